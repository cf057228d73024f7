"""Locks and claims lapse: their collections have TTL indexes, so what a crashed or failed
request leaves behind is swept away, while a live lock stays."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from pymongo import MongoClient

from fhir_server.expiring import EXPIRING
from fhir_server.messaging import REPLY_CLAIMS
from fhir_server.portal.lockout import ATTEMPTS
from fhir_server.resources.conditional import LOCKS
from tests.conftest import RunningServer


def test_lapsed_locks_and_claims_are_swept_and_live_ones_stay(server: RunningServer) -> None:
    now, tag = datetime.now(UTC), uuid.uuid4().hex
    lapsed = {LOCKS: {"_id": f"lapsed-{tag}", "owner": tag, "expires": now - timedelta(seconds=5)},
              REPLY_CLAIMS: {"_id": f"lapsed-{tag}", "owner": tag, "at": now - timedelta(minutes=2)},
              ATTEMPTS: {"_id": f"lapsed-{tag}@example.net", "start": now - timedelta(hours=2), "used": 5,
                         "failed": 5, "locked_until": now - timedelta(hours=1, minutes=30)}}
    live = {LOCKS: {"_id": f"live-{tag}", "owner": tag, "expires": now + timedelta(seconds=30)},
            REPLY_CLAIMS: {"_id": f"live-{tag}", "owner": tag, "at": now},
            ATTEMPTS: {"_id": f"live-{tag}@example.net", "start": now - timedelta(minutes=20), "used": 5,
                       "failed": 5, "locked_until": now + timedelta(minutes=10)}}
    with MongoClient(server.mongo_uri) as client:
        db = client[server.settings.database_name]
        for collection, field, seconds in EXPIRING:
            ttl = [ix for ix in db[collection].index_information().values() if "expireAfterSeconds" in ix]
            assert [(ix["key"], ix["expireAfterSeconds"]) for ix in ttl] == [([(field, 1)], seconds)], collection
        try:
            for docs in (lapsed, live):
                for collection, doc in docs.items():
                    db[collection].insert_one(doc)
            client.admin.command("secantusAdmin.pruneTtl")  # the sweep the database runs every minute
            for collection, doc in lapsed.items():
                assert db[collection].find_one({"_id": doc["_id"]}) is None, collection
            for collection, doc in live.items():
                assert db[collection].find_one({"_id": doc["_id"]}) is not None, collection
        finally:
            for docs in (lapsed, live):
                for collection, doc in docs.items():
                    db[collection].delete_one({"_id": doc["_id"]})
