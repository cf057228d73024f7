"""``carespace import``: Bundles (transaction, batch, collection) and NDJSON files or folders,
through the same engine and access check as the API, with progress and a summary.

A malformed NDJSON line is reported and the rest of the file still loads; a transaction
Bundle with a bad entry fails whole (nothing of it is written).

Files are read, parsed and validated (the R4B models: most of the importer's CPU) ahead of the
writer, in a pool of processes, while this process writes the file before them: one
transaction per Bundle, with one ``insert_many`` per type inside it. Writes stay in file order,
one Bundle at a time, so conditional references between Bundles resolve as they would one by one.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from fhir_server import audit
from fhir_server.access import Caller
from fhir_server.resources import hooks
from fhir_server.resources.bundles import BundleProcessor
from fhir_server.resources.errors import FhirError
from fhir_server.resources.search import patient_compartments
from fhir_server.resources.store import Changes
from fhir_server.resources.validation import validate
from fhir_server.services import Services
from fhir_server.smart.scopes import ScopeGrant

BATCH = 500
AHEAD = 4  # files parsed and validated ahead of the one being written
Prepared = tuple[Any, str | None, bool]  # (document, why it cannot be imported, every entry validated)
IMPORTER = Caller(kind="admin", subject="carespace-import", client_id="carespace-import",
                  grants=(ScopeGrant("system", "*", frozenset("cruds")),), patients=None)


@dataclass
class ImportReport:
    counts: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    files: int = 0
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        rate = self.total / self.seconds if self.seconds else 0.0
        lines = [f"Imported {self.total} resources from {self.files} file(s) in {self.seconds:.1f} s "
                 f"({rate:.0f} resources/s)."]
        lines += [f"  {t:<28} {n:>8}" for t, n in sorted(self.counts.items())]
        if self.failures:
            lines.append(f"{len(self.failures)} failure(s):")
            lines += [f"  {f}" for f in self.failures[:50]]
            if len(self.failures) > 50:
                lines.append(f"  … and {len(self.failures) - 50} more")
        return "\n".join(lines)


def files_under(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix in (".json", ".ndjson") and p.is_file())
        elif path.exists():
            yield path
        else:
            raise FileNotFoundError(f"No such file or folder: {path}")


async def import_paths(services: Services, paths: list[Path], *, progress: bool = True) -> ImportReport:
    report = ImportReport()
    started = time.monotonic()
    try:
        files = list(files_under(paths))
    except FileNotFoundError as exc:
        report.failures.append(str(exc))
        return report
    jsons = [i for i, path in enumerate(files) if path.suffix != ".ndjson"]
    pool = _validators() if len(jsons) > 1 else None
    ahead: dict[int, asyncio.Future[Prepared]] = {}
    queued = iter(jsons)
    try:
        for number, path in enumerate(files, 1):
            while pool is not None and len(ahead) < AHEAD:
                i = next(queued, None)
                if i is None:
                    break
                ahead[i] = asyncio.wrap_future(pool.submit(prepare_file, str(files[i])))
            if progress:
                _progress(number, len(files), path, report)
            if path.suffix == ".ndjson":
                await import_ndjson(services, path, report)
            else:
                await import_json(services, path, report, await _prepared(ahead.pop(number - 1, None), path))
            report.files += 1
    finally:
        for pending in ahead.values():  # after an error: nobody will wait for these
            pending.cancel()
            if pending.done() and not pending.cancelled():
                pending.exception()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    report.seconds = time.monotonic() - started
    if progress and sys.stderr.isatty():
        _progress(len(files), len(files), None, report)
        print(file=sys.stderr)
    return report


def _progress(done: int, total: int, path: Path | None, report: ImportReport) -> None:
    if not sys.stderr.isatty():
        if path:
            print(f"{done}/{total} {path}", file=sys.stderr, flush=True)
        return
    width = 30
    filled = int(width * (done - (1 if path else 0)) / max(total, 1))
    name = path.name[:40] if path else "done"
    print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {report.total:>8} resources  {name:<40}",
          end="", file=sys.stderr, flush=True)


async def _prepared(ahead: asyncio.Future[Prepared] | None, path: Path) -> Prepared:
    """The file as the pool prepared it; read here, unvalidated, when the pool could not."""
    if ahead is not None:
        try:
            return await ahead
        except BrokenProcessPool:  # a pool process died (killed, out of memory): the writer validates
            pass
    return await asyncio.to_thread(prepare_file, str(path), False)


def _validators() -> ProcessPoolExecutor:
    # spawn, not fork: this process runs an event loop and the driver's threads.
    return ProcessPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1)),
                               mp_context=multiprocessing.get_context("spawn"))


def prepare_file(path: str, check: bool = True) -> Prepared:
    """Read and parse one JSON file and, with ``check``, validate every resource a Bundle's POST
    and PUT entries carry (in a pool process). An invalid entry is not reported here: the
    writer validates that Bundle again and names the entry, as it does for one sent to the API."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return None, f"not valid JSON ({exc})", False
    if not isinstance(document, dict):
        return None, "not a FHIR resource or Bundle", False
    if not check or document.get("resourceType") != "Bundle" or document.get("type") not in ("transaction", "batch"):
        return document, None, False
    try:
        for entry in document.get("entry") or []:
            request = entry.get("request") or {}
            if str(request.get("method", "")).upper() in ("POST", "PUT") and isinstance(entry.get("resource"), dict):
                validate(entry["resource"])
    except (FhirError, AttributeError, TypeError):
        return document, None, False
    return document, None, True


async def import_json(services: Services, path: Path, report: ImportReport, prepared: Prepared) -> None:
    document, error, validated = prepared
    if error:
        report.failures.append(f"{path}: {error}")
        return
    if document.get("resourceType") == "Bundle" and document.get("type") in ("transaction", "batch"):
        processor = BundleProcessor(services, IMPORTER, validated=validated)
        try:
            result = await processor.run(document)
        except FhirError as exc:
            report.failures.append(f"{path}: {exc.diagnostics} (nothing of this Bundle was written)")
            return
        for index, entry in enumerate(result["entry"]):
            status = entry.get("response", {}).get("status", "")
            if status.startswith("2") and entry.get("resource"):
                report.counts[entry["resource"]["resourceType"]] += 1
            elif not status.startswith("2"):
                issue = (entry["response"].get("outcome") or {}).get("issue", [{}])[0]
                report.failures.append(f"{path} entry {index}: {issue.get('diagnostics', status)}")
        await audit.record(services.store, IMPORTER, "create", patients=processor.touched_patients)
        return
    if document.get("resourceType") == "Bundle":
        resources = [(f"{path} entry {i}", e.get("resource")) for i, e in enumerate(document.get("entry") or [])]
    else:
        resources = [(str(path), document)]
    await _store_resources(services, resources, report)


async def import_ndjson(services: Services, path: Path, report: ImportReport) -> None:
    batch: list[tuple[str, Any]] = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                batch.append((where, json.loads(line)))
            except json.JSONDecodeError as exc:
                report.failures.append(f"{where}: not valid JSON ({exc.msg})")
            if len(batch) >= BATCH:
                await _store_resources(services, batch, report)
                batch = []
    if batch:
        await _store_resources(services, batch, report)


async def _store_resources(services: Services, items: list[tuple[str, Any]], report: ImportReport) -> None:
    """Validate each; create the new ones in bulk, update the ones that exist (keeping ids)."""
    valid: list[dict[str, Any]] = []
    for where, resource in items:
        try:
            valid.append(validate(resource))
        except FhirError as exc:
            report.failures.append(f"{where}: {exc.diagnostics}")
    store = services.store
    by_type: dict[str, dict[str, dict[str, Any]]] = {}
    for resource in valid:
        resource.setdefault("id", store.new_id())
        # An id twice in one batch: the later line, the newer, is the one kept.
        by_type.setdefault(resource["resourceType"], {})[resource["id"]] = resource
    patients: set[str] = set()
    for resource_type, by_id in by_type.items():
        resources = list(by_id.values())
        ids = list(by_id)
        current = await store.current_versions(resource_type, ids)
        # Ids with an earlier (deleted) life continue their version line.
        lived = await store.last_vids(resource_type, [i for i in ids if i not in current])
        await store.collection(resource_type)  # its indexes, outside the transaction (as a Bundle's are)
        changes = Changes()
        for resource in resources:
            rid = resource["id"]
            if rid in current:
                changes.replaces.append(store.stamp(resource, rid, current[rid].vid + 1))
            else:
                changes.creates.append(store.stamp(resource, rid, lived.get(rid, 0) + 1))
        try:
            await services.db.in_transaction(partial(store.write, changes))
        except FhirError as exc:
            # A concurrent writer took or changed some of these ids; importing again brings them up to date.
            report.failures.append(f"{resource_type}: {exc.diagnostics} Run the import again to bring it up to date.")
            continue
        await hooks.after_create(services, IMPORTER, [v.resource for v in changes.creates])  # notices: once a batch
        report.counts[resource_type] += len(resources)
        for resource in resources:
            patients.update(patient_compartments(resource, store.base_url))
    await audit.record(store, IMPORTER, "create", patients=patients)
