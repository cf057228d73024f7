"""Collections of locks and claims whose documents lapse: a TTL index each, so that the ones a
crashed or failed request leaves behind do not pile up (the database sweeps them every minute).

Each document stops mattering at a time its own module defines; the index deletes it some time
after that, never before.
"""

from __future__ import annotations

from datetime import timedelta

from pymongo import ASCENDING, IndexModel

from fhir_server.db import Database
from fhir_server.messaging import CLAIM_LAPSES, REPLY_CLAIMS
from fhir_server.portal.lockout import ATTEMPTS
from fhir_server.resources.conditional import LOCKS
from fhir_server.services import Services

# A sign-in throttle's count matters for its window plus the lock that may follow it: at most
# 15 + 15 minutes for the portal, 5 + 5 for the token endpoint; an hour is well past both.
ATTEMPTS_LAPSE = timedelta(hours=1)

# (collection, date field, seconds after that date when the document may go)
EXPIRING = (
    (LOCKS, "expires", 0),  # a conditional write's criteria lock names its own expiry
    (REPLY_CLAIMS, "at", int(CLAIM_LAPSES.total_seconds())),  # a reply claim lapses (the reply is the record)
    (ATTEMPTS, "start", int(ATTEMPTS_LAPSE.total_seconds())),  # sign-in throttling, per email or client
)


async def ensure_indexes(db: Database) -> None:
    for collection, field, seconds in EXPIRING:
        await db[collection].create_indexes([IndexModel([(field, ASCENDING)], expireAfterSeconds=seconds)])


async def startup(services: Services) -> None:
    await ensure_indexes(services.db)
