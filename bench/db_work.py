"""What the database does per request, measured without HTTP and without the machine's load.

    .venv/bin/python -m bench.db_work --data-dir var/bench-cache/scale-10000 [--copy-to DIR]

On a shared machine the request rates move with the neighbours; what a request asks of the
database does not. On a copy of a bench data set (``bench.speed``'s cache) this prints:

1. **the lab list** (``Observation?patient&category=laboratory&_sort=-date&_count=50``) for
   every patient: finds, documents the database returned and CPU of the database process per
   request, read in one query (what the search did before) and in date windows
   (``search/windows.py``), a first look and again (the hint of the first look);
2. **the cost of an AuditEvent insert**: journaled ``insert_many`` of 2,000 stored AuditEvents
   (batches of 50, as the group commit writes them) into a collection with the generic indexes
   every type had and into one with the audit trail's own;
3. **a create's two writes** (the current document and its ``history`` copy), 1,000 creates at
   20 in flight, journaled: two ``insert_one`` one after the other, one client ``bulkWrite``
   (MongoDB 8.0's command across collections), and a transaction holding both;
4. **an EHR's sync as a transaction** (no data set needed): Bundles of 50 updates and 50
   deletes of Observations through ``BundleProcessor`` (what ``POST /fhir`` runs, without HTTP):
   the commands each sends, by name, its time, and the CPU per entry of this process (the
   server's part) and of the database;
5. **one document through the batched calls** (no data set needed): the driver's CPU for a
   one-document ``insert_many`` and ``bulk_write`` (what ``ResourceStore.write`` sends for a
   single create or update) against ``insert_one`` and ``replace_one``, 600 writes each, three rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import bson
from pymongo import AsyncMongoClient, IndexModel, InsertOne, ReplaceOne, WriteConcern, monitoring

from bench.search import copy_data_set
from fhir_server import audit, embedded_db
from fhir_server.access import Caller
from fhir_server.config import Settings
from fhir_server.importer import IMPORTER
from fhir_server.resources.bundles import BundleProcessor
from fhir_server.resources.search import UNRESTRICTED, index_models, search
from fhir_server.resources.search import plan as plan_module
from fhir_server.resources.search.extract import INDEX_FIELDS, index_resource, stored_index
from fhir_server.resources.search.windows import HINTS
from fhir_server.resources.store import ResourceStore
from fhir_server.services import build_services

JOURNALED = WriteConcern(w="majority", j=True)
BASE_URL = "http://bench/fhir"


class Returned(monitoring.CommandListener):
    def __init__(self) -> None:
        self.finds = self.docs = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        if event.command_name in ("find", "getMore"):
            self.finds += event.command_name == "find"
            cursor = event.reply.get("cursor", {})
            self.docs += len(cursor.get("firstBatch", cursor.get("nextBatch", [])))

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def cpu_ms(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


async def lab_list(uri: str, db_pid: int) -> None:
    listener = Returned()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True, event_listeners=[listener])
    db = client["carespace"]
    patients = [d["_id"] async for d in db.Patient.find({}, {"_id": 1})]
    windowed = plan_module.window_field
    runs = [("one query (before)", lambda _plan: None, True), ("windows, first look", windowed, True),
            ("windows, again", windowed, False)]
    print(f"lab list, {len(patients)} patients, one request each")
    for label, field_of, forget in runs:
        plan_module.window_field = field_of  # type: ignore[assignment]
        if forget:
            HINTS.clear()
        listener.finds = listener.docs = 0
        db0, t0 = cpu_ms(db_pid), time.perf_counter()
        for pid in patients:
            await search(db, "Observation", [("patient", pid), ("category", "laboratory"), ("_sort", "-date"),
                                             ("_count", "50")], base_url="http://bench/fhir", scope=UNRESTRICTED)
        n = len(patients)
        print(f"  {label:22} finds/req {listener.finds / n:5.2f}  documents/req {listener.docs / n:6.1f}  "
              f"database CPU ms/req {(cpu_ms(db_pid) - db0) / n:6.2f}  wall ms/req "
              f"{(time.perf_counter() - t0) * 1000 / n:6.1f}")
    plan_module.window_field = windowed
    await client.close()


class _Captured:
    """Stands in for the group commit: keeps the documents the store would write."""

    def __init__(self) -> None:
        self.docs: list[dict[str, Any]] = []

    async def insert(self, collection: str, doc: dict[str, Any]) -> None:
        self.docs.append(doc)


async def audit_samples(count: int) -> list[dict[str, Any]]:
    """AuditEvents as the server stores them (``audit.record`` through ``ResourceStore.append``):
    a back-end client reading one of a patient's Observations."""
    captured = _Captured()
    store = ResourceStore(None, base_url=BASE_URL, group_commit=captured)  # type: ignore[arg-type]
    caller = Caller(kind="system", subject="bench-ehr", grants=(), patients=None, client_id="bench-ehr")
    for n in range(count):
        await audit.record(store, caller, "read", patients=[f"bench-patient-{n % 200}"],
                           entities=[f"Observation/{uuid.uuid4().hex}"])
    return captured.docs


def _without_bare_ids(idx: dict[str, Any]) -> dict[str, Any]:
    return {**idx, "ref": [r for r in idx["ref"] if not r.partition("\x1f")[2].startswith("=")]}


async def audit_insert(uri: str, db_pid: int) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
    db = client["carespace"]
    samples = await audit_samples(2000)
    generic = [*index_models("Observation")[:2], *(IndexModel([(f"idx.{f}", 1)], name=f"idx_{f}")
                                                    for f in INDEX_FIELDS), *index_models("AuditEvent")[-2:]]
    own = index_models("AuditEvent")

    def every_key(doc: dict[str, Any]) -> dict[str, Any]:
        return index_resource(doc["res"], BASE_URL)

    def stored(doc: dict[str, Any]) -> dict[str, Any]:
        return stored_index(doc["res"], BASE_URL)

    variants = [("generic indexes, every key (round 2)", generic, every_key),
                ("own indexes, every key (round 3)", own, every_key),
                ("own indexes, stored keys (now)", own, stored),
                ("own indexes, stored, no bare ids (not kept)", own, lambda d: _without_bare_ids(stored(d)))]
    print("AuditEvent insert, 2,000 documents in journaled batches of 50")
    for label, models, idx_of in variants:
        docs = [{**d, "idx": idx_of(d)} for d in samples]
        size = sum(len(bson.encode(d)) for d in docs) / len(docs)
        entries = sum(len(d["idx"]["ref"]) for d in docs) / len(docs)
        coll = db.get_collection(f"bench_audit_{uuid.uuid4().hex[:6]}", write_concern=JOURNALED)
        await coll.create_indexes(models)
        db0, t0 = cpu_ms(db_pid), time.perf_counter()
        for batch in range(0, len(docs), 50):
            await coll.insert_many(docs[batch:batch + 50])
        wall = time.perf_counter() - t0
        print(f"  {label:44} {len(models) + 1:2d} indexes  {size:5.0f} B/event  {entries:3.1f} refs"
              f"  database CPU ms/event {(cpu_ms(db_pid) - db0) / len(docs):5.2f}  events/s {len(docs) / wall:6.0f}")
        await coll.drop()
    await client.close()


async def create_writes(uri: str, db_pid: int) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
    db = client.get_database("carespace", write_concern=JOURNALED)
    sample = await db.Observation.find_one()
    assert sample is not None
    history = await db.history.find_one({"t": "Observation"})
    assert history is not None

    def docs(tag: str, i: int) -> tuple[dict[str, Any], dict[str, Any]]:
        obs_id = f"bench-{tag}-{i}-{uuid.uuid4().hex[:8]}"
        return {**sample, "_id": obs_id}, {**history, "_id": f"Observation/{obs_id}/1", "id": obs_id}

    async def two_inserts(i: int) -> None:
        current, copy = docs("two", i)
        await db.Observation.insert_one(current)
        await db.history.insert_one(copy)

    async def bulk_write(i: int) -> None:
        current, copy = docs("bulk", i)
        await client.bulk_write([InsertOne(current, namespace="carespace.Observation"),
                                 InsertOne(copy, namespace="carespace.history")], write_concern=JOURNALED)

    async def transaction(i: int) -> None:
        current, copy = docs("txn", i)
        async with client.start_session() as session, await session.start_transaction():
            await db.Observation.insert_one(current, session=session)
            await db.history.insert_one(copy, session=session)

    print("a create's writes (current document + history copy), 1,000 creates, 20 in flight, journaled")
    for label, call in (("two insert_one", two_inserts), ("one client bulkWrite", bulk_write),
                        ("one transaction", transaction)):
        db0, t0 = cpu_ms(db_pid), time.perf_counter()
        pending = iter(range(1000))

        async def worker(write: Any = call, numbers: Any = pending) -> None:
            for i in numbers:
                await write(i)

        try:
            await asyncio.gather(*(worker() for _ in range(20)))
        except Exception as exc:  # a database without the command says so; the rest runs
            print(f"  {label:22} failed: {exc}")
            continue
        wall = time.perf_counter() - t0
        print(f"  {label:22} database CPU ms/create {(cpu_ms(db_pid) - db0) / 1000:5.2f}  creates/s {1000 / wall:6.0f}")
    await db.Observation.delete_many({"_id": {"$regex": "^bench-"}})
    await db.history.delete_many({"id": {"$regex": "^bench-"}})
    await client.close()


class Sent(monitoring.CommandListener):
    """The commands sent, by name."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.names.append(event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def transaction_writes(uri: str, db_pid: int, *, runs: int = 6, each: int = 50) -> None:
    sent = Sent()
    monitoring.register(sent)  # global, so that the same bench counts on earlier versions too
    with tempfile.TemporaryDirectory(prefix="carespace-dbwork-") as data_dir:
        settings = Settings(mongodb_uri=uri, embedded_db=True, data_dir=Path(data_dir),
                            database_name=f"bench_txn_{uuid.uuid4().hex[:6]}")
        services = await build_services(settings)
        try:
            patient = f"urn:uuid:{uuid.uuid4()}"
            seed = [{"fullUrl": patient, "resource": {"resourceType": "Patient"},
                     "request": {"method": "POST", "url": "Patient"}}]
            seed += [{"resource": {"resourceType": "Observation", "status": "final",
                                   "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
                                   "subject": {"reference": patient}, "valueQuantity": {"value": i, "unit": "g/dL"}},
                      "request": {"method": "POST", "url": "Observation"}} for i in range(runs * each * 2)]
            created = await BundleProcessor(services, IMPORTER).run({"resourceType": "Bundle", "type": "transaction",
                                                                     "entry": seed})
            observations = [e["resource"] for e in created["entry"][1:]]
            print(f"a transaction of {each} updates and {each} deletes of Observations, {runs} runs, journaled")
            for run in range(runs):
                mine = observations[run * each * 2:(run + 1) * each * 2]
                entries = [{"resource": {**o, "status": "amended"}, "request": {"method": "PUT",
                                                                                "url": f"Observation/{o['id']}"}}
                           for o in mine[:each]]
                entries += [{"request": {"method": "DELETE", "url": f"Observation/{o['id']}"}} for o in mine[each:]]
                sent.names.clear()
                db0, app0, t0 = cpu_ms(db_pid), time.process_time(), time.perf_counter()
                await BundleProcessor(services, IMPORTER).run({"resourceType": "Bundle", "type": "transaction",
                                                               "entry": entries})
                wall, app = time.perf_counter() - t0, time.process_time() - app0
                names = Counter(sent.names).most_common()
                print(f"  run {run + 1}  round trips {len(sent.names):4d} ({', '.join(f'{n} {c}' for n, c in names)})"
                      f"  ms {wall * 1000:6.0f}  CPU ms/entry app {app * 1000 / len(entries):5.2f}"
                      f" + database {(cpu_ms(db_pid) - db0) / len(entries):5.2f}")
        finally:
            await services.db.client.drop_database(settings.database_name)
            await services.db.close()


async def single_writes(uri: str, db_pid: int, *, count: int = 600, rounds: int = 3) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
    coll = client.get_database(f"bench_single_{uuid.uuid4().hex[:6]}", write_concern=JOURNALED).Observation
    doc = {"res": {"resourceType": "Observation", "status": "final", "code": {"text": "x" * 200}}, "vid": 1,
           "idx": {"tok": [f"code\x1fc:{i}" for i in range(30)]}}
    calls = {
        "insert_one": lambda i: coll.insert_one({**doc, "_id": i}),
        "insert_many([doc])": lambda i: coll.insert_many([{**doc, "_id": i}]),
        "replace_one": lambda i: coll.replace_one({"_id": i, "vid": 1}, {**doc, "vid": 2}),
        "bulk_write([ReplaceOne])": lambda i: coll.bulk_write([ReplaceOne({"_id": i, "vid": 1}, {**doc, "vid": 2})]),
    }
    print(f"one document a write, {count} writes one after the other, journaled: this process's CPU a write")
    for round_ in range(rounds):
        figures = []
        for label, call in calls.items():
            ids = [uuid.uuid4().hex for _ in range(count)]
            if label.startswith(("replace", "bulk")):
                await coll.insert_many([{**doc, "_id": i} for i in ids])
            cpu0 = time.process_time()
            for i in ids:
                await call(i)
            figures.append(f"{label} {(time.process_time() - cpu0) / count * 1e6:4.0f} µs")
        print(f"  round {round_ + 1}  " + "  ".join(figures))
    await client.drop_database(coll.database.name)
    await client.close()


PARTS = {"lab": lab_list, "audit": audit_insert, "create": create_writes, "transaction": transaction_writes,
         "single": single_writes}
NEEDS_DATA = {"lab", "create"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.db_work", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, help="a bench.speed data set (it is copied); "
                        "without it, only the AuditEvent insert, the transaction and the single writes run")
    parser.add_argument("--copy-to", type=Path, help="where the copy goes (default: a temporary folder)")
    parser.add_argument("--only", default=",".join(PARTS), help="some parts only: " + ",".join(PARTS))
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    if unknown := [p for p in parts if p not in PARTS]:
        parser.error(f"--only: unknown part {', '.join(unknown)} (choose from {', '.join(PARTS)})")
    if args.data_dir is None and NEEDS_DATA & set(parts):
        parser.error("--data-dir is needed for the lab list and the create (or use --only audit,transaction,single)")
    work = args.copy_to or Path(tempfile.mkdtemp(prefix="carespace-dbwork-"))
    target = work / "data"
    try:
        if args.data_dir is not None:
            copy_data_set(args.data_dir, target)
        server = embedded_db.start(target, record=False)
        try:
            for part in parts:
                asyncio.run(PARTS[part](server.uri, server.process.pid))
        finally:
            server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
