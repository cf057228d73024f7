"""Sign-in throttling (OWASP ASVS 2.2.1): 5 failures in 15 minutes lock sign-in for 15 minutes.

Failures are counted per email as typed (normalised), whether or not an account uses it, so a
lock never reveals that an email is registered. The person is told on the page; the account
holder, if there is one, also gets an email.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pymongo import ReturnDocument

from fhir_server.db import Database

ATTEMPTS = "login_attempts"
MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)
LOCK = timedelta(minutes=15)


async def locked_until(db: Database, email: str, now: datetime) -> datetime | None:
    doc = await db[ATTEMPTS].find_one({"_id": email})
    until = doc.get("locked_until") if doc else None
    return until if until and until > now else None


async def record_failure(db: Database, email: str, now: datetime) -> datetime | None:
    """Count a failure; returns the lock's end when this failure locked the email."""
    doc = await db[ATTEMPTS].find_one_and_update(
        {"_id": email},
        {"$push": {"failures": {"$each": [now], "$slice": -MAX_FAILURES}}},
        upsert=True, return_document=ReturnDocument.AFTER)
    recent = [f for f in doc.get("failures", []) if now - f < WINDOW]
    if len(recent) >= MAX_FAILURES:
        until = now + LOCK
        await db[ATTEMPTS].update_one({"_id": email}, {"$set": {"locked_until": until, "failures": []}})
        return until
    return None


async def clear(db: Database, email: str) -> None:
    await db[ATTEMPTS].delete_one({"_id": email})
