"""Authorization codes (RFC 6749 §4.1.2): one use, 60 seconds, stored hashed.

"The client MUST NOT use the authorization code more than once. If an authorization code is
used more than once, the authorization server MUST deny the request and SHOULD revoke (when
possible) all tokens previously issued based on that authorization code."
"""

from __future__ import annotations

from typing import Any

from fhir_server.db import Database, claim
from fhir_server.smart import store
from fhir_server.smart.errors import InvalidGrant
from fhir_server.smart.store import CODES, Authorization

CODE_TTL = 60


async def create_code(db: Database, *, redirect_uri: str, code_challenge: str,
                      authorization: Authorization, ttl: int = CODE_TTL) -> str:
    code = store.new_secret()
    await db[CODES].insert_one({
        "_id": store.digest(code), "redirect_uri": redirect_uri, "code_challenge": code_challenge,
        "authorization": authorization.to_doc(), "used": False, "expires_at": store.expires_in(ttl),
    })
    return code


async def redeem(db: Database, code: str | None) -> dict[str, Any]:
    """Mark the code used (atomically) and return it; a second use revokes what the first issued."""
    if not code:
        raise InvalidGrant("The authorization code is missing.")
    key = store.digest(code)
    doc = await claim(db[CODES], {"_id": key, "used": False}, {"$set": {"used": True}})
    if doc is None:
        used = await db[CODES].find_one({"_id": key})
        if used:
            await _revoke_issued(db, used)
        raise InvalidGrant("The authorization code is unknown, expired or already used.")
    if doc["expires_at"] <= store.now():
        raise InvalidGrant("The authorization code has expired.")
    return doc


async def mark_issued(db: Database, code_doc: dict[str, Any], issued: dict[str, Any]) -> None:
    await db[CODES].update_one({"_id": code_doc["_id"]}, {"$set": {"issued": issued}})


async def _revoke_issued(db: Database, doc: dict[str, Any]) -> None:
    from fhir_server.smart.grant_refresh_token import revoke_chain

    issued = doc.get("issued") or {}
    if issued.get("jti"):
        await store.revoke_access_token(db, issued["jti"], issued["exp"])
    if issued.get("chain"):
        await revoke_chain(db, issued["chain"])
