"""At most one notice per person per kind per hour, decided by the database: a claim document
per (account, kind) that only one writer can insert, or move forward once the hour has passed
(a conditional update), so two server workers never both send."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from pymongo import ASCENDING, IndexModel

from fhir_server.db import Database, insert_claim

CLAIMS = "notice_claims"
INTERVAL = timedelta(hours=1)


async def ensure_indexes(db: Database) -> None:
    # Claims older than the interval decide nothing any more: the database sweeps them.
    await db[CLAIMS].create_indexes([IndexModel([("at", ASCENDING)],
                                                expireAfterSeconds=int(INTERVAL.total_seconds()) * 2)])


async def claim(db: Database, account_id: str, kind: str, now: datetime) -> bool:
    """Whether this caller may send ``account_id`` a ``kind`` notice now (and has taken the hour)."""
    key = f"{account_id}:{kind}"
    if await insert_claim(db[CLAIMS], {"_id": key, "at": now, "owner": uuid.uuid4().hex}):
        return True
    taken = await db[CLAIMS].update_one({"_id": key, "at": {"$lte": now - INTERVAL}}, {"$set": {"at": now}})
    return taken.modified_count == 1
