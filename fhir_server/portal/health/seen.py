"""When an account last looked at a patient's lab results, so that the Health tab can mark what
is new since then. One small document per (account, patient) pair, read and replaced by ``_id``.

It holds no patient data (a time and two ids), so it is not a FHIR resource; the page that
reads it is audited as a whole.
"""

from __future__ import annotations

from datetime import datetime

from fhir_server.db import Database

SEEN = "portal_seen"


def _key(account_id: str, patient_id: str) -> str:
    return f"{account_id}|{patient_id}"


async def last_looked(db: Database, account_id: str, patient_id: str) -> datetime | None:
    doc = await db[SEEN].find_one({"_id": _key(account_id, patient_id)}, {"labs": 1})
    return doc.get("labs") if doc else None


async def looked_now(db: Database, account_id: str, patient_id: str, now: datetime) -> None:
    await db[SEEN].update_one({"_id": _key(account_id, patient_id)}, {"$set": {"labs": now}}, upsert=True)
