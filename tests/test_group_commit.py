"""Group commit: concurrent inserts share journaled batches, and each caller goes on only once
its own document is stored; a failed document fails only its own caller."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import BulkWriteError

from fhir_server.db import DURABLE
from fhir_server.group_commit import GroupCommit
from tests.conftest import RunningServer
from tests.threaded import run_coroutine


def run_batches(mongo_uri: str, docs: list[dict]) -> tuple[list[object], int, list[int]]:
    """Insert ``docs`` concurrently through one GroupCommit; (outcomes, batches, found after each)."""

    async def main() -> tuple[list[object], int, list[int]]:
        client: AsyncMongoClient = AsyncMongoClient(mongo_uri, w="majority", journal=True, retryWrites=False)
        collection = client["carespace_group_commit"]["events"]
        batches = 0

        async def collection_of(name: str):  # type: ignore[no-untyped-def]
            nonlocal batches
            batches += 1
            return client["carespace_group_commit"][name]

        writer = GroupCommit(collection_of)
        found: list[int] = []

        async def one(doc: dict) -> object:
            try:
                await writer.insert("events", doc)
            except BulkWriteError as exc:
                return exc
            # Stored before the caller goes on: another connection reads it back at once.
            found.append(await collection.count_documents({"_id": doc["_id"]}))
            return None

        try:
            outcomes = await asyncio.gather(*(one(d) for d in docs))
            return list(outcomes), batches, found
        finally:
            await client["carespace_group_commit"].drop_collection("events")
            await client.close()

    return run_coroutine(main())


def test_concurrent_inserts_share_batches_and_each_is_stored_when_answered(mongo_uri: str) -> None:
    docs = [{"_id": str(uuid.uuid4()), "n": i} for i in range(60)]
    outcomes, batches, found = run_batches(mongo_uri, docs)
    assert outcomes == [None] * 60
    assert found == [1] * 60
    assert 1 <= batches < 60, "60 concurrent inserts should share batches"
    assert DURABLE.document == {"w": "majority", "j": True}


def test_a_failed_document_fails_only_its_own_caller(mongo_uri: str) -> None:
    same = str(uuid.uuid4())
    docs = [{"_id": str(uuid.uuid4())}, {"_id": same}, {"_id": same}, {"_id": str(uuid.uuid4())}]
    outcomes, _, found = run_batches(mongo_uri, docs)
    failures = [o for o in outcomes if o is not None]
    assert len(failures) == 1 and isinstance(failures[0], BulkWriteError)
    assert found == [1, 1, 1]


@pytest.mark.parametrize("requests", [24])
def test_concurrent_reads_each_leave_their_audit_event(server: RunningServer, admin: httpx.Client,
                                                       db, requests: int) -> None:  # type: ignore[no-untyped-def]
    patient = admin.post("/Patient", json={"resourceType": "Patient", "name": [{"family": "Groupcommit"}]})
    assert patient.status_code == 201, patient.text
    pid = patient.json()["id"]
    before = db["AuditEvent"].count_documents({"comp": pid})

    async def reads() -> list[httpx.Response]:
        headers = {"Authorization": f"Bearer {server.token()}", "Accept": "application/fhir+json"}
        async with httpx.AsyncClient(base_url=server.fhir, headers=headers, timeout=60) as client:
            return list(await asyncio.gather(*(client.get(f"/Patient/{pid}") for _ in range(requests))))

    answers = run_coroutine(reads())
    assert [r.status_code for r in answers] == [200] * requests
    assert all(r.json()["id"] == pid for r in answers)
    # Every answered read's event is stored by the time it answered: all of them are there now.
    events = list(db["AuditEvent"].find({"comp": pid}, {"res": 1}))
    assert len(events) - before == requests
    reads_audited = [e for e in events if e["res"]["subtype"][0]["code"] == "read"]
    assert len(reads_audited) == requests
    assert all(e["res"]["entity"][0]["what"]["reference"] == f"Patient/{pid}" for e in reads_audited)
