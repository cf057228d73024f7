"""What the authorization server keeps between requests, and its TTL indexes.

Every secret handed to a client (authorization codes, refresh tokens) is stored only as its
SHA-256 hash; every record that expires carries ``expires_at`` under a TTL index.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, IndexModel, UpdateOne

from fhir_server.db import Database
from fhir_server.smart.bearer import REVOKED

CODES = "authorization_codes"
REFRESH_TOKENS = "refresh_tokens"
ASSERTION_JTIS = "client_assertion_jtis"
LAUNCH_CONTEXTS = "launch_contexts"
AUTHORIZE_REQUESTS = "authorize_requests"
REVOKED_CHAINS = "revoked_refresh_chains"
EXPIRING = (CODES, REFRESH_TOKENS, ASSERTION_JTIS, LAUNCH_CONTEXTS, AUTHORIZE_REQUESTS, REVOKED, REVOKED_CHAINS)


@dataclass
class Authorization:
    """What a user approved for a client: the basis of every token issued from it."""

    client_id: str
    sub: str
    scope: str
    patient: str | None = None
    fhir_user: str | None = None  # "Patient/jane-doe" or "RelatedPerson/sophie-doe"
    consent: str | None = None  # the Consent a delegate's access rests on
    nonce: str | None = None
    auth_time: int | None = None

    def to_doc(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Authorization:
        return cls(**{k: doc.get(k) for k in cls.__dataclass_fields__})


def now() -> datetime:
    return datetime.now(UTC)


def expires_in(seconds: int) -> datetime:
    return now() + timedelta(seconds=seconds)


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def revoke_access_token(db: Database, jti: str, exp: int) -> None:
    """RFC 7009: the bearer door refuses this jti until the token would have expired anyway."""
    await revoke_access_tokens(db, [(jti, exp)])


async def revoke_access_tokens(db: Database, tokens: Iterable[tuple[str, int]]) -> None:
    """Revoke each (jti, exp) in one round trip. A token past its expiry (and the mark's minute
    of margin) is refused by the bearer door already, so it gets no mark."""
    current = now()
    marks = []
    for jti, exp in tokens:
        until = datetime.fromtimestamp(exp, UTC) + timedelta(seconds=60)
        if until > current:
            marks.append(UpdateOne({"_id": jti}, {"$set": {"expires_at": until}}, upsert=True))
    if marks:
        await db[REVOKED].bulk_write(marks, ordered=False)


async def ensure_indexes(db: Database) -> None:
    for name in EXPIRING:
        await db[name].create_indexes([IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0)])
    await db[REFRESH_TOKENS].create_indexes([
        IndexModel([("chain", ASCENDING)]),
        # The portal's Apps page (live_tokens); the embedded database uses an index only when it covers every predicate.
        IndexModel([("authorization.sub", ASCENDING), ("authorization.patient", ASCENDING), ("rotated", ASCENDING),
                    ("revoked", ASCENDING), ("expires_at", ASCENDING)]),
    ])
