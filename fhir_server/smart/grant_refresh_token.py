"""The refresh_token grant (RFC 6749 §6) with rotation (OAuth 2.0 Security BCP §4.14.2).

Each use returns a new refresh token and retires the old one; the tokens of one
authorization share a ``chain``. "If a refresh token is compromised and subsequently used by
both the attacker and the legitimate client, one of them will present an invalidated refresh
token, which will inform the authorization server of the breach": reuse of a retired token
revokes the whole chain and the access tokens issued from it. A refresh request may narrow
the scope, never widen it (§6: "MUST NOT include any scope not originally granted").
"""

from __future__ import annotations

import uuid
from typing import Any

from fhir_server.db import Database, claim
from fhir_server.services import Services
from fhir_server.smart import store
from fhir_server.smart.clients import Client
from fhir_server.smart.errors import InvalidGrant, InvalidScope
from fhir_server.smart.issuance import token_response
from fhir_server.smart.scopes import ScopeError, is_subset
from fhir_server.smart.store import REFRESH_TOKENS, REVOKED_CHAINS, Authorization

OFFLINE_TTL = 90 * 24 * 3600
ONLINE_TTL = 12 * 3600


async def issue_refresh_token(db: Database, authorization: Authorization, *, chain: str | None,
                              access: tuple[str, int]) -> tuple[str, str]:
    token = store.new_secret()
    issued = store.now()
    since = issued
    if chain:  # a rotation: the chain keeps the time the user first connected the app
        first = await db[REFRESH_TOKENS].find_one({"chain": chain}, projection={"since": 1})
        since = (first or {}).get("since") or issued
    chain = chain or uuid.uuid4().hex
    ttl = OFFLINE_TTL if "offline_access" in authorization.scope.split() else ONLINE_TTL
    await db[REFRESH_TOKENS].insert_one({
        "_id": store.digest(token), "chain": chain, "authorization": authorization.to_doc(),
        "rotated": False, "revoked": False, "access": [list(access)], "expires_at": store.expires_in(ttl),
        "since": since, "created": issued,
    })
    return token, chain


async def find(db: Database, token: str) -> dict[str, Any] | None:
    return await db[REFRESH_TOKENS].find_one({"_id": store.digest(token)})


def is_active(doc: dict[str, Any] | None) -> bool:
    return bool(doc) and not doc["rotated"] and not doc["revoked"] and doc["expires_at"] > store.now()


async def revoke_chain(db: Database, chain: str) -> None:
    """Retire every refresh token of the chain and revoke the access tokens they issued.

    The chain is marked first: a rotation that races this (its new token inserted after the
    loop below read the chain) sees the mark after its insert and revokes itself (``grant``)."""
    # The mark outlives every token the chain can still hold (none is issued after it), then goes.
    await db[REVOKED_CHAINS].update_one(
        {"_id": chain}, {"$set": {"at": store.now(), "expires_at": store.expires_in(OFFLINE_TTL)}}, upsert=True)
    issued = [(jti, exp) async for doc in db[REFRESH_TOKENS].find({"chain": chain}, projection={"access": 1})
              for jti, exp in doc.get("access", [])]
    await store.revoke_access_tokens(db, issued)
    await db[REFRESH_TOKENS].update_many({"chain": chain}, {"$set": {"revoked": True}})


async def live_tokens(db: Database, sub: str, patient: str) -> list[dict[str, Any]]:
    """The usable refresh token of each chain this account holds for this patient (the portal's
    "Connected apps"): one indexed query on ``authorization.sub`` and ``authorization.patient``."""
    query = {"authorization.sub": sub, "authorization.patient": patient, "rotated": False, "revoked": False,
             "expires_at": {"$gt": store.now()}}
    return [doc async for doc in db[REFRESH_TOKENS].find(query, projection={"access": 0}).sort("created", 1)]


async def _consent_active(db: Database, consent_id: str) -> bool:
    doc = await db.resources("Consent").find_one({"_id": consent_id}, projection={"res.status": 1})
    return bool(doc) and doc["res"].get("status") == "active"


async def grant(services: Services, client: Client, form: dict[str, str]) -> dict[str, Any]:
    db = services.db
    token = form.get("refresh_token")
    if not token:
        raise InvalidGrant("refresh_token is required.")
    doc = await find(db, token)
    if doc is None or doc["authorization"]["client_id"] != client.client_id:
        raise InvalidGrant("The refresh token is unknown or was issued to another client.")
    if doc["revoked"] or doc["rotated"]:
        await revoke_chain(db, doc["chain"])
        raise InvalidGrant("The refresh token was already used or revoked; its whole chain is now revoked.")
    if doc["expires_at"] <= store.now():
        raise InvalidGrant("The refresh token has expired.")
    authorization = Authorization.from_doc(doc["authorization"])
    requested = form.get("scope")
    if requested:
        try:
            narrower = is_subset(requested, authorization.scope)
        except ScopeError as exc:
            raise InvalidScope(str(exc)) from None
        if not narrower:
            raise InvalidScope("A refresh may not ask for scopes that were not originally granted.")
    if authorization.consent and not await _consent_active(db, authorization.consent):
        await revoke_chain(db, doc["chain"])
        raise InvalidGrant("The access this authorization rests on has been revoked by the patient.")
    claimed = await claim(db[REFRESH_TOKENS], {"_id": doc["_id"], "rotated": False, "revoked": False},
                          {"$set": {"rotated": True}})
    if claimed is None:  # a concurrent use of the same token: treat as reuse
        await revoke_chain(db, doc["chain"])
        raise InvalidGrant("The refresh token was already used; its whole chain is now revoked.")
    if requested:
        # The narrower scope applies to the new access token; the chain keeps the original grant
        # only through the new refresh token, which carries the narrower scope too (no widening later).
        authorization.scope = " ".join(s for s in requested.split())
    body, _ = await token_response(services, authorization, chain=doc["chain"])
    if await db[REVOKED_CHAINS].find_one({"_id": doc["chain"]}, projection={"_id": 1}):
        # A reuse of this chain's old token raced this rotation: the tokens just issued go too.
        await revoke_chain(db, doc["chain"])
        raise InvalidGrant("The refresh token was already used; its whole chain is now revoked.")
    return body
