"""Server-side sessions (OWASP ASVS V3): the cookie holds only a random id; MongoDB holds its hash.

The cookie is ``HttpOnly``, ``SameSite=Lax`` and ``Secure`` when the base URL is https. A
session ends after 30 minutes without a request, 12 hours after sign-in, at sign-out, and
when the account's password is reset.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Annotated, Protocol
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from fastapi.responses import Response
from pymongo import ASCENDING, IndexModel

from fhir_server.db import SESSIONS, Database
from fhir_server.portal import accounts
from fhir_server.portal.accounts import Account
from fhir_server.portal.links import digest
from fhir_server.services import Services

COOKIE = "carespace_session"
IDLE = timedelta(minutes=30)
ABSOLUTE = timedelta(hours=12)
TOUCH_EVERY = timedelta(seconds=30)


class _Identified(Protocol):
    """Whoever a session is for: a portal account or a practice staff member."""

    @property
    def id(self) -> str: ...


class LoginRequired(Exception):
    """A page that needs a signed-in person; the handler redirects to ``/login?next=...``."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def ensure_indexes(db: Database) -> None:
    await db[SESSIONS].create_indexes([
        IndexModel([("account_id", ASCENDING)]),
        IndexModel([("absolute_expiry", ASCENDING)], expireAfterSeconds=0),
    ])


def set_cookie(response: Response, name: str, value: str, *, secure: bool, path: str = "/",
               max_age: int | None = None) -> None:
    response.set_cookie(name, value, path=path, max_age=max_age, httponly=True, samesite="lax", secure=secure)


async def start(request: Request, response: Response, account: _Identified, *, cookie: str = COOKIE,
                collection: str = SESSIONS, **extra: object) -> None:
    """Sign in: a new session (any session id the browser had is dropped, against fixation).
    ``cookie`` and ``collection`` let the practice console keep its staff sessions apart;
    ``extra`` is stored on the session (e.g. the console's sign-in stage)."""
    services = services_of(request)
    await end(request, response, cookie=cookie, collection=collection)
    raw = secrets.token_urlsafe(32)
    now = services.store.clock()
    await services.db[collection].insert_one({"_id": digest(raw), "account_id": account.id, "created": now,
                                              "last_seen": now, "absolute_expiry": now + ABSOLUTE, **extra})
    set_cookie(response, cookie, raw, secure=services.settings.secure_cookies)


async def end(request: Request, response: Response, *, cookie: str = COOKIE, collection: str = SESSIONS) -> None:
    """Sign out: the session is deleted and the cookie cleared."""
    raw = request.cookies.get(cookie)
    if raw:
        await services_of(request).db[collection].delete_one({"_id": digest(raw)})
        response.delete_cookie(cookie, path="/", httponly=True, samesite="lax",
                               secure=services_of(request).settings.secure_cookies)
    if cookie == COOKIE:
        request.state.account = None


async def end_all_others(db: Database, account_id: str, keep_raw: str | None, *,
                         collection: str = SESSIONS) -> int:
    """Every session of the account except the current one (after a password reset)."""
    keep = digest(keep_raw) if keep_raw else None
    ids = [d["_id"] async for d in db[collection].find({"account_id": account_id}, projection={"_id": 1})]
    result = await db[collection].delete_many({"_id": {"$in": [i for i in ids if i != keep]}})
    return result.deleted_count


def _alive(doc: dict[str, object], now: datetime) -> bool:
    last_seen, created = doc["last_seen"], doc["created"]
    assert isinstance(last_seen, datetime) and isinstance(created, datetime)
    return now - last_seen < IDLE and now - created < ABSOLUTE


async def current_account(request: Request) -> Account | None:
    """The signed-in person of this request, or None (also used by the SMART authorize page)."""
    if getattr(request.state, "account_loaded", False):
        cached: Account | None = request.state.account
        return cached
    request.state.account_loaded = True
    request.state.account = None
    doc = await live_session(request)
    if not doc:
        return None
    account = await accounts.get(services_of(request).db, doc["account_id"])
    request.state.account = account
    return account


async def live_session(request: Request, *, cookie: str = COOKIE,
                       collection: str = SESSIONS) -> dict[str, object] | None:
    """The unexpired session document behind this request's cookie (touched at most every 30 s),
    or None; the portal's and the practice console's sessions both end this way."""
    raw = request.cookies.get(cookie)
    if not raw:
        return None
    services = services_of(request)
    sessions = services.db[collection]
    doc = await sessions.find_one({"_id": digest(raw)})
    now = services.store.clock()
    if not doc:
        return None
    if not _alive(doc, now):
        await sessions.delete_one({"_id": doc["_id"]})
        return None
    if now - doc["last_seen"] > TOUCH_EVERY:
        await sessions.update_one({"_id": doc["_id"]}, {"$set": {"last_seen": now}})
    return doc


def safe_next(value: str | None, default: str = "/health") -> str:
    """``next`` only when it is a relative path on this site (no scheme, host or ``//``)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    if any(ord(c) < 32 for c in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value


def login_url(next_url: str) -> str:
    return "/login?next=" + quote(next_url, safe="/")


async def signed_in(request: Request) -> Account:
    """Dependency of every page behind sign-in."""
    account = await current_account(request)
    if account is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    return account


SignedIn = Annotated[Account, Depends(signed_in)]
