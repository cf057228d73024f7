"""The second step of signing in, for accounts with two-step sign-in turned on.

After email, password and birth date, the person is *not* signed in: a pending sign-in is kept
(a random cookie whose hash keys a short-lived record: the account, the lockout key and where
to go next) until a code from their authenticator app, or a recovery code, is accepted. Only
then does a session start (``sessions.start``, a new id). Each code attempt is charged to the
same 5-failure lockout as the password, so the second step cannot be guessed either.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from pymongo import ASCENDING, IndexModel

from fhir_server import two_step
from fhir_server.db import ACCOUNTS, Database
from fhir_server.portal.accounts import Account
from fhir_server.portal.links import digest
from fhir_server.portal.sessions import services_of, set_cookie

PENDING = "sign_in_pending"
COOKIE = "carespace_second_step"
PATH = "/login/code"
LIFETIME = timedelta(minutes=5)


@dataclass(frozen=True)
class Pending:
    id: str  # the hash of the cookie
    account_id: str
    key: str  # the lockout key (the normalised email typed at sign-in)
    next: str


async def ensure_indexes(db: Database) -> None:
    await db[PENDING].create_indexes([IndexModel([("expires", ASCENDING)], expireAfterSeconds=0)])


async def required(db: Database, account_id: str) -> bool:
    doc = await db[ACCOUNTS].find_one({"_id": account_id}, projection={"two_step.enabled": 1})
    return two_step.is_enabled(doc or {})


async def begin(request: Request, response: Response, account: Account, key: str, next_url: str) -> None:
    """Keep the half-done sign-in and give the browser its cookie (scoped to the code page)."""
    services = services_of(request)
    raw = secrets.token_urlsafe(32)
    now = services.store.clock()
    await services.db[PENDING].insert_one({"_id": digest(raw), "account_id": account.id, "key": key,
                                           "next": next_url, "expires": now + LIFETIME})
    set_cookie(response, COOKIE, raw, secure=services.settings.secure_cookies, path=PATH)


async def pending_of(request: Request) -> Pending | None:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    services = services_of(request)
    doc: dict[str, Any] | None = await services.db[PENDING].find_one({"_id": digest(raw)})
    now: datetime = services.store.clock()
    if not doc or doc["expires"] <= now:
        return None
    return Pending(id=doc["_id"], account_id=doc["account_id"], key=doc["key"], next=doc["next"])


async def finish(request: Request, response: Response, pending: Pending | None) -> None:
    """The pending sign-in is over (accepted, locked or abandoned): forget it and its cookie."""
    if pending:
        await services_of(request).db[PENDING].delete_one({"_id": pending.id})
    response.delete_cookie(COOKIE, path=PATH, httponly=True, samesite="lax",
                           secure=services_of(request).settings.secure_cookies)
