"""Bulk Data export — http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export

One job per kick-off, a document in ``export_jobs``; a background asyncio task writes one
NDJSON file per type into GridFS (bucket ``export``). GridFS, not files under the data dir:
every server process sharing the database can answer status and download requests, the
files go wherever the database's backups go, and the embedded database serves it too.

Each type is read with the search engine under the caller's scope, sorted by
``_lastUpdated`` and paged by the engine's keyset cursor, so memory stays at one page and
a resource changed during the export neither repeats nor slips in: anything updated after
the job's ``transactionTime`` is left for the next ``_since`` export.

A job left running by a restart (its heartbeat stops) is marked failed when next looked
at; it is not resumed, since a half-written GridFS file cannot be appended to. Jobs and
their files expire after ``JOB_TTL``; expired ones are swept at the next kick-off.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from gridfs import AsyncGridFSBucket
from gridfs.asynchronous.grid_file import AsyncGridIn
from pymongo import ASCENDING, IndexModel

from fhir_server import audit
from fhir_server.access import Caller
from fhir_server.resources.errors import FhirError
from fhir_server.resources.operations.export_filters import Elements, TypeFilters, trim
from fhir_server.resources.search import SearchScope, patient_compartments
from fhir_server.resources.search.execute import every_page
from fhir_server.resources.store import instant
from fhir_server.services import Services

JOBS = "export_jobs"
BUCKET = "export"
JOB_TTL = timedelta(hours=24)
PAGE_SIZE = 500
STALE_AFTER = timedelta(minutes=2)  # no heartbeat for this long: the process that ran it is gone
MAX_RUNNING = 3  # exports in progress per client; more is 429 (each one holds a task and a database cursor)
AUDIT_PATIENTS = 1000  # patients named per audit event; beyond that the event says how many more
WORKER = uuid.uuid4().hex  # this process: its jobs without a live task died with an error
_TASKS: dict[str, asyncio.Task[None]] = {}
log = logging.getLogger("carespace.export")


@dataclass(frozen=True)
class ExportRequest:
    """What the kick-off asked for (already validated by the route)."""

    url: str
    types: list[str]
    scopes: dict[str, SearchScope]
    since: datetime | None
    type_filters: TypeFilters = field(default_factory=dict)  # per type, OR'ed searches
    elements: Elements = field(default_factory=dict)


def _bucket(services: Services) -> AsyncGridFSBucket:
    return AsyncGridFSBucket(services.db.db, bucket_name=BUCKET)


_indexed: set[int] = set()


async def _ensure_indexes(services: Services) -> None:
    """Once per process: each query below is covered by one index (the embedded database scans
    otherwise), and expired jobs can be found without a scan."""
    if id(services.db) in _indexed:
        return
    await services.db[JOBS].create_indexes([
        IndexModel([("client", ASCENDING), ("subject", ASCENDING), ("state", ASCENDING), ("heartbeat", ASCENDING)]),
        IndexModel([("expires", ASCENDING)]),
    ])
    await services.db["export.files"].create_indexes([IndexModel([("metadata.job", ASCENDING)])])
    _indexed.add(id(services.db))


def _owner(caller: Caller) -> dict[str, str | None]:
    return {"client": caller.client_id, "subject": caller.subject}


def _ms(moment: datetime) -> datetime:
    """MongoDB keeps milliseconds: compare at that precision."""
    return moment.astimezone(UTC).replace(microsecond=moment.microsecond // 1000 * 1000)


async def start(services: Services, caller: Caller, request: ExportRequest) -> str:
    """Record the job and start its task; returns the job id."""
    await _ensure_indexes(services)
    await sweep_expired(services)
    now = _ms(services.store.clock())
    running = await services.db[JOBS].count_documents(
        {**_owner(caller), "state": "running", "heartbeat": {"$gt": now - STALE_AFTER}})
    if running >= MAX_RUNNING:
        raise FhirError(429, "throttled", f"This client already has {running} exports in progress; "
                        "wait for one to finish (or DELETE it) before starting another.",
                        headers={"Retry-After": "10"})
    job_id = uuid.uuid4().hex
    await services.db[JOBS].insert_one({
        "_id": job_id, **_owner(caller), "request": request.url, "types": request.types,
        "since": request.since, "state": "running", "progress": "Starting", "counts": {}, "output": [],
        "errors": [], "created": now, "transaction_time": now, "expires": now + JOB_TTL,
        "worker": WORKER, "heartbeat": now,
    })
    task = asyncio.create_task(_run(services, caller, job_id, request, now))
    _TASKS[job_id] = task
    task.add_done_callback(lambda _: _TASKS.pop(job_id, None))
    return job_id


async def _run(services: Services, caller: Caller, job_id: str, request: ExportRequest,
               transaction_time: datetime) -> None:
    jobs = services.db[JOBS]
    patients: set[str] = set()
    try:
        for index, resource_type in enumerate(request.types):
            entry = await _export_type(services, job_id, resource_type, request, transaction_time,
                                       f"{index + 1} of {len(request.types)} types")
            if entry is None:
                return  # cancelled
            if entry["count"]:
                await jobs.update_one({"_id": job_id}, {"$push": {"output": entry}})
                patients.update(entry["patients"][:AUDIT_PATIENTS - len(patients)])
        await jobs.update_one({"_id": job_id, "state": "running"},
                              {"$set": {"state": "completed", "progress": "Complete",
                                        "finished": services.store.clock()}})
        await _audit(services, caller, sorted(patients), f"Bulk export {job_id} written: {', '.join(request.types)}")
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # any failure becomes the job's OperationOutcome, never a job left running
        log.exception("Bulk export %s failed", job_id)
        await jobs.update_one({"_id": job_id}, {"$set": {
            "state": "failed", "failure": f"The export failed while writing files ({exc.__class__.__name__})."}})
        await _remove_files(services, job_id)


async def _export_type(services: Services, job_id: str, resource_type: str, request: ExportRequest,
                       transaction_time: datetime, where: str) -> dict[str, Any] | None:
    """Write one type's NDJSON file; None when the job was cancelled meanwhile."""
    upload: AsyncGridIn | None = None
    count, patients = 0, set[str]()
    base = services.settings.fhir_base
    try:
        async for page in _pages(services, resource_type, request):
            lines = []
            for resource in page:
                if _last_updated(resource) > transaction_time:
                    continue  # changed after the snapshot instant: the next _since export has it
                lines.append(json.dumps(trim(resource, request.elements), ensure_ascii=False,
                                        separators=(",", ":")))
                if len(patients) < AUDIT_PATIENTS:
                    patients.update(patient_compartments(resource, base))
            if lines:
                if upload is None:
                    upload = _bucket(services).open_upload_stream(
                        f"{resource_type}.ndjson", metadata={"job": job_id, "type": resource_type})
                await upload.write(("\n".join(lines) + "\n").encode())
                count += len(lines)
            progress = f"{where}; {resource_type}: {count} resources"
            beat = await services.db[JOBS].update_one(
                {"_id": job_id, "state": "running"},
                {"$set": {"progress": progress, f"counts.{resource_type}": count,
                          "heartbeat": services.store.clock()}})
            if beat.matched_count == 0:
                if upload is not None:
                    await upload.abort()
                return None
        if upload is None:
            return {"type": resource_type, "count": 0, "patients": []}
        await upload.close()
        return {"type": resource_type, "count": count, "file": upload._id, "name": f"{resource_type}.ndjson",
                "patients": sorted(patients)}
    except BaseException:
        if upload is not None and not upload.closed:
            await upload.abort()
        raise


async def _pages(services: Services, resource_type: str, request: ExportRequest) -> AsyncIterator[list[dict[str, Any]]]:
    """The type's resources a page at a time.

    An export is for unrestricted (system) callers: unless their scopes carry SMART query
    restrictions for the type, one streaming cursor reads the collection once (the order of
    an NDJSON file does not matter). Re-running a sorted search per page would make the
    embedded database, which sorts in memory, re-read the rest of the type for every page.
    """
    scope = request.scopes[resource_type]
    filters = request.type_filters.get(resource_type)
    if filters:
        async for filtered in _filtered_pages(services, resource_type, request, filters):
            yield filtered
        return
    if scope.patients is None and not scope.restrictions.get(resource_type):
        query = {"lu": {"$gte": request.since}} if request.since is not None else {}
        page: list[dict[str, Any]] = []
        async for doc in services.db.resources(resource_type).find(query, projection={"res": 1},
                                                                   batch_size=PAGE_SIZE):
            page.append(doc["res"])
            if len(page) >= PAGE_SIZE:
                yield page
                page = []
        if page:
            yield page
        return
    async for restricted in _search_pages(services, resource_type, request):
        yield restricted


async def _filtered_pages(services: Services, resource_type: str, request: ExportRequest,
                          filters: list[list[tuple[str, str]]]) -> AsyncIterator[list[dict[str, Any]]]:
    """``_typeFilter``: one search per filter, OR'ed (a resource two filters match is written once)."""
    seen: set[str] = set()
    for criteria in filters:
        async for page in _search_pages(services, resource_type, request, criteria):
            fresh = [r for r in page if r["id"] not in seen]
            seen.update(r["id"] for r in fresh)
            yield fresh


async def _search_pages(services: Services, resource_type: str, request: ExportRequest,
                        criteria: list[tuple[str, str]] | None = None) -> AsyncIterator[list[dict[str, Any]]]:
    """Through the search engine (SMART query restrictions apply), following its keyset cursor."""
    params = [*(criteria or []), ("_sort", "_lastUpdated"), ("_total", "none")]
    if request.since is not None:
        params.append(("_lastUpdated", f"ge{instant(request.since)}"))
    async for page in every_page(services.db.db, resource_type, params, base_url=services.settings.fhir_base,
                                 scope=request.scopes[resource_type], page_size=PAGE_SIZE):
        yield page


def _last_updated(resource: dict[str, Any]) -> datetime:
    value = (resource.get("meta") or {}).get("lastUpdated")
    return datetime.fromisoformat(value) if value else datetime.min.replace(tzinfo=UTC)


async def job_of(services: Services, caller: Caller, job_id: str) -> dict[str, Any]:
    """The caller's own job, with a dead one marked failed; 404 for another client's or an expired one."""
    jobs = services.db[JOBS]
    await _ensure_indexes(services)
    await sweep_expired(services)
    job = await jobs.find_one({"_id": job_id, **_owner(caller)})
    now = services.store.clock()
    if job is None or job["expires"] <= now:
        if job is not None:
            await _delete_job(services, job_id)
        raise FhirError(404, "not-found", f"There is no export job {job_id} for this client (or it has expired).")
    if job["state"] == "running" and _is_dead(job, now):
        failure = "The export stopped when the server restarted; please start a new export."
        await jobs.update_one({"_id": job_id, "state": "running"}, {"$set": {"state": "failed", "failure": failure}})
        await _remove_files(services, job_id)
        job.update(state="failed", failure=failure)
    return job


def _is_dead(job: dict[str, Any], now: datetime) -> bool:
    if job.get("worker") == WORKER:
        return job["_id"] not in _TASKS
    return bool(job["heartbeat"] <= now - STALE_AFTER)


def manifest(job: dict[str, Any], base_url: str) -> dict[str, Any]:
    """The complete-status body (Bulk Data Access, "Response - Complete Status")."""
    files = f"{base_url}/$export-file/{job['_id']}"
    return {
        "transactionTime": instant(job["transaction_time"]),
        "request": job["request"],
        "requiresAccessToken": True,
        "output": [{"type": o["type"], "url": f"{files}/{o['name']}", "count": o["count"]} for o in job["output"]],
        "error": [],
    }


async def cancel(services: Services, caller: Caller, job_id: str) -> None:
    """DELETE on the status URL: stop the task and remove the job and its files."""
    await job_of(services, caller, job_id)
    task = _TASKS.get(job_id)
    await services.db[JOBS].update_one({"_id": job_id}, {"$set": {"state": "cancelled"}})
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    await _delete_job(services, job_id)


async def open_file(services: Services, caller: Caller, job_id: str,
                    name: str) -> tuple[AsyncIterator[bytes], dict[str, Any]]:
    """A completed job's file as a byte stream, and its output entry (for the audit)."""
    job = await job_of(services, caller, job_id)
    entry = next((o for o in job["output"] if o["name"] == name), None) if job["state"] == "completed" else None
    if entry is None:
        raise FhirError(404, "not-found", f"Export {job_id} has no file {name}.")
    stream = await _bucket(services).open_download_stream(entry["file"])

    async def chunks() -> AsyncIterator[bytes]:
        try:
            while chunk := await stream.readchunk():
                yield chunk
        finally:
            await stream.close()

    return chunks(), entry


async def audit_download(services: Services, caller: Caller, job_id: str, entry: dict[str, Any]) -> None:
    await _audit(services, caller, entry["patients"], f"Bulk export {job_id}: {entry['name']} downloaded "
                 f"({entry['count']} resources)")


async def _audit(services: Services, caller: Caller, patients: list[str], description: str) -> None:
    if len(patients) >= AUDIT_PATIENTS:
        description += f"; only the first {AUDIT_PATIENTS} patients are named here"
    await audit.record(services.store, caller, "export", patients=patients, description=description)


async def sweep_expired(services: Services) -> None:
    async for job in services.db[JOBS].find({"expires": {"$lte": services.store.clock()}}, projection={"_id": 1}):
        await _delete_job(services, job["_id"])


async def _delete_job(services: Services, job_id: str) -> None:
    await _remove_files(services, job_id)
    await services.db[JOBS].delete_one({"_id": job_id})


async def _remove_files(services: Services, job_id: str) -> None:
    bucket = _bucket(services)
    async for grid_file in bucket.find({"metadata.job": job_id}):
        await bucket.delete(grid_file._id)
