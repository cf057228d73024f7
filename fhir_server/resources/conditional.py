"""One conditional write at a time per criteria: two ``If-None-Exist`` creates (or conditional
updates) with the same criteria at once would both find nothing and both create.

The lock is a document keyed by the resource type and the normalised criteria, so every worker
process on the database agrees; it names its expiry, so a crashed holder frees it after a while.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

from fhir_server.db import Database, insert_claim
from fhir_server.resources.errors import conflict

LOCKS = "conditional_locks"
HOLD = timedelta(seconds=30)  # longer than any one write; a crashed holder's lock lapses after it
WAIT = 15.0


def _key(resource_type: str, criteria: str) -> str:
    normalised = sorted(parse_qsl(criteria.lstrip("?"), keep_blank_values=True))
    return hashlib.sha256(f"{resource_type}?{normalised!r}".encode()).hexdigest()


@asynccontextmanager
async def criteria_lock(db: Database, resource_type: str, criteria: str) -> AsyncIterator[None]:
    key, owner = _key(resource_type, criteria), uuid.uuid4().hex
    collection = db[LOCKS]
    deadline = asyncio.get_running_loop().time() + WAIT
    while not await insert_claim(collection, {"_id": key, "owner": owner, "expires": datetime.now(UTC) + HOLD}):
        await collection.delete_one({"_id": key, "expires": {"$lt": datetime.now(UTC)}})  # a crashed holder's
        if asyncio.get_running_loop().time() > deadline:
            raise conflict(f"Another conditional write on {resource_type} with the same criteria "
                           "is in progress; try again.") from None
        await asyncio.sleep(0.02)
    try:
        yield
    finally:
        await collection.delete_one({"_id": key})
