"""Single-use links mailed to people: registration invites (4 days) and password resets (1 hour).

A link's token is 32 random bytes; the database keeps only its SHA-256. Issuing a new link
for the same subject (a patient's invite, an account's reset) kills the older ones. Redeeming
is atomic: of two concurrent uses exactly one succeeds. Expiry uses the store's clock, so
tests can move time.

So that a token does not sit in the address bar, the browser history or a Referer, the page
the link opens exchanges it at once for a short-lived *flow* (a random id in a cookie scoped
to that page, stored as a hash) and redirects to the same page without the token.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, IndexModel

from fhir_server.db import Database, claim

LINKS = "portal_links"
FLOWS = "portal_flows"

INVITE = "invite"
RESET = "reset"
# The practice console's staff: the same single-use links, of kinds the portal never accepts.
STAFF_INVITE = "staff_invite"
STAFF_RESET = "staff_reset"
LIFETIME = {INVITE: timedelta(days=4), RESET: timedelta(hours=1),
            STAFF_INVITE: timedelta(days=4), STAFF_RESET: timedelta(hours=1)}
FLOW_LIFETIME = timedelta(minutes=30)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Link:
    id: str  # the token's hash
    kind: str
    subject: str  # the patient (invite) or the account (reset) the link is for
    email: str
    expires: datetime
    data: dict[str, Any]


class LinkUnusable(Exception):
    """The link is unknown, expired, used or replaced; ``reason`` says which for the page."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "expired" | "used" | "unknown"


async def ensure_indexes(db: Database) -> None:
    # One index covering every predicate of the open-link queries (the embedded database uses
    # an index only then).
    await db[LINKS].create_indexes([IndexModel([("kind", ASCENDING), ("subject", ASCENDING), ("state", ASCENDING)])])
    # Old links and flows are swept by MongoDB a day after they expire.
    await db[LINKS].create_indexes([IndexModel([("expires", ASCENDING)], expireAfterSeconds=86400)])
    await db[FLOWS].create_indexes([IndexModel([("expires", ASCENDING)], expireAfterSeconds=3600)])


async def issue(db: Database, kind: str, subject: str, email: str, now: datetime, **data: Any) -> tuple[str, Link]:
    """A new link (the raw token is returned once, to be mailed); older ones stop working."""
    await db[LINKS].update_many({"kind": kind, "subject": subject, "state": "open"},
                                {"$set": {"state": "replaced", "closed": now}})
    token = secrets.token_urlsafe(32)
    link = Link(id=digest(token), kind=kind, subject=subject, email=email, expires=now + LIFETIME[kind], data=data)
    await db[LINKS].insert_one({"_id": link.id, "kind": kind, "subject": subject, "email": email, "data": data,
                                "created": now, "expires": link.expires, "state": "open", "mail": "pending"})
    return token, link


def _from_doc(doc: dict[str, Any]) -> Link:
    return Link(id=doc["_id"], kind=doc["kind"], subject=doc["subject"], email=doc["email"],
                expires=doc["expires"], data=doc.get("data") or {})


async def check(db: Database, link_id: str, kind: str, now: datetime) -> Link:
    """The open link with this hash, or LinkUnusable saying why not."""
    doc = await db[LINKS].find_one({"_id": link_id, "kind": kind})
    if not doc:
        raise LinkUnusable("unknown")
    if doc["state"] == "used":
        raise LinkUnusable("used")
    if doc["state"] != "open":
        raise LinkUnusable("replaced")
    if doc["expires"] <= now:
        raise LinkUnusable("expired")
    return _from_doc(doc)


async def redeem(db: Database, link_id: str, kind: str, now: datetime) -> Link:
    """Use the link up, atomically; LinkUnusable when it was not open any more."""
    doc = await claim(db[LINKS], {"_id": link_id, "kind": kind, "state": "open", "expires": {"$gt": now}},
                      {"$set": {"state": "used", "closed": now}})
    if not doc:
        await check(db, link_id, kind, now)  # raises with the reason
        raise LinkUnusable("used")
    return _from_doc(doc)


async def mark_mail(db: Database, link_id: str, status: str) -> None:
    await db[LINKS].update_one({"_id": link_id}, {"$set": {"mail": status}})


# -- flows: the token exchanged for a cookie ------------------------------------------------

async def start_flow(db: Database, link: Link, now: datetime) -> str:
    raw = secrets.token_urlsafe(32)
    await db[FLOWS].insert_one({"_id": digest(raw), "link": link.id, "kind": link.kind,
                                "expires": min(now + FLOW_LIFETIME, link.expires)})
    return raw


async def flow_link(db: Database, raw: str | None, kind: str, now: datetime) -> str:
    """The link id behind a flow cookie (LinkUnusable('unknown') when there is none)."""
    if not raw:
        raise LinkUnusable("unknown")
    doc = await db[FLOWS].find_one({"_id": digest(raw), "kind": kind})
    if not doc or doc["expires"] <= now:
        raise LinkUnusable("expired" if doc else "unknown")
    return str(doc["link"])


async def end_flow(db: Database, raw: str | None) -> None:
    if raw:
        await db[FLOWS].delete_one({"_id": digest(raw)})
