"""Sign-in throttling (OWASP ASVS 2.2.1): 5 failures in 15 minutes lock sign-in for 15 minutes.

Failures are counted per email as typed (normalised), whether or not an account uses it, so a
lock never reveals that an email is registered. The person is told on the page; the account
holder, if there is one, also gets an email.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from fhir_server.db import Database

ATTEMPTS = "login_attempts"
MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)
LOCK = timedelta(minutes=15)


async def locked_until(db: Database, email: str, now: datetime) -> datetime | None:
    doc = await db[ATTEMPTS].find_one({"_id": email})
    until = doc.get("locked_until") if doc else None
    return until if until and until > now else None


async def record_failure(db: Database, email: str, now: datetime, *, max_failures: int = MAX_FAILURES,
                         window: timedelta = WINDOW, lock: timedelta = LOCK) -> datetime | None:
    """Count a failure; returns the lock's end when this failure locked the key (an email, or
    another caller's key such as an OAuth client id)."""
    # update_one + find_one: the embedded database's find_one_and_update is ~100x slower.
    await db[ATTEMPTS].update_one({"_id": email}, {"$push": {"failures": {"$each": [now], "$slice": -max_failures}}},
                                  upsert=True)
    doc = await db[ATTEMPTS].find_one({"_id": email}) or {}
    recent = [f for f in doc.get("failures", []) if now - f < window]
    if len(recent) >= max_failures:
        until = now + lock
        await db[ATTEMPTS].update_one({"_id": email}, {"$set": {"locked_until": until, "failures": []}})
        return until
    return None


async def clear(db: Database, email: str) -> None:
    await db[ATTEMPTS].delete_one({"_id": email})
