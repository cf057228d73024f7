"""Sign-in throttling (OWASP ASVS 2.2.1): 5 failures in 15 minutes lock sign-in for 15 minutes.

Failures are counted per email as typed (normalised), whether or not an account uses it, so a
lock never reveals that an email is registered. The person is told on the page; the account
holder, if there is one, also gets an email.

An attempt is charged *before* its secret is checked (``charge``), by a conditional increment
that the database decides atomically: ten guesses sent at once get the allowance's five tries,
not ten. A failure keeps its charge (``record_failure``, which locks on the last one); anything
else gives it back (``refund``) or, after a successful sign-in, clears the count (``clear``).
"""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime, timedelta

from pymongo.errors import AutoReconnect, DuplicateKeyError

from fhir_server.db import Database, claim

ATTEMPTS = "login_attempts"
MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)
LOCK = timedelta(minutes=15)


async def locked_until(db: Database, email: str, now: datetime) -> datetime | None:
    doc = await db[ATTEMPTS].find_one({"_id": email})
    until = doc.get("locked_until") if doc else None
    return until if until and until > now else None


async def charge(db: Database, key: str, now: datetime, *, max_failures: int = MAX_FAILURES,
                 window: timedelta = WINDOW) -> datetime | None:
    """Take one try of the key's allowance; None when granted, else until when the key is paused
    (then the attempt must be refused without checking its secret)."""
    attempts = db[ATTEMPTS]
    # A concurrent first attempt may make it first (E11000, or on the embedded database at times
    # a dropped connection): either way the document exists for the conditional update below.
    with suppress(DuplicateKeyError, AutoReconnect):
        await attempts.update_one({"_id": key}, {"$setOnInsert": {"start": now, "used": 0, "failed": 0}},
                                  upsert=True)
    # A window that has passed, with no lock still running, starts afresh.
    await attempts.update_one({"_id": key, "$and": [
        {"$or": [{"start": {"$lte": now - window}}, {"start": None}]},
        {"$or": [{"locked_until": None}, {"locked_until": {"$lte": now}}]}]},
        {"$set": {"start": now, "used": 0, "failed": 0}, "$unset": {"locked_until": ""}})
    granted = await attempts.update_one({"_id": key, "used": {"$lt": max_failures},
                                         "$or": [{"locked_until": None}, {"locked_until": {"$lte": now}}]},
                                        {"$inc": {"used": 1}})
    if granted.matched_count == 1:
        return None
    doc = await attempts.find_one({"_id": key}) or {}
    until = doc.get("locked_until") or (doc.get("start") or now) + window
    return max(until, now + timedelta(seconds=1))


async def refund(db: Database, key: str) -> None:
    """Give back a charged try that checked no secret (a malformed request, a success)."""
    await db[ATTEMPTS].update_one({"_id": key, "used": {"$gt": 0}}, {"$inc": {"used": -1}})


async def record_failure(db: Database, email: str, now: datetime, *, max_failures: int = MAX_FAILURES,
                         window: timedelta = WINDOW, lock: timedelta = LOCK) -> datetime | None:
    """Count a failure of a charged try; returns the lock's end when this failure locked the key
    (an email, or another caller's key such as an OAuth client id) — for exactly one failure."""
    attempts = db[ATTEMPTS]
    await attempts.update_one({"_id": email}, {"$inc": {"failed": 1}, "$setOnInsert": {"start": now, "used": 1}},
                              upsert=True)
    until = now + lock
    locked = await claim(attempts, {"_id": email, "failed": {"$gte": max_failures}, "locked_until": None},
                         {"$set": {"locked_until": until}})
    return until if locked else None


async def clear(db: Database, email: str) -> None:
    await db[ATTEMPTS].delete_one({"_id": email})
