"""Search, read and $everything speed of CareSpace on the embedded database, over real HTTP.

    .venv/bin/python -m bench.search --synthea ../shared/data/synthea [--scale 100000]
        [--requests 400] [--concurrency 20] [--budget 120] [--seed 7]

What it does, in one run (see bench/README.md for figures):

1. starts a fresh embedded database (SecantusDB, a child process) in a temporary folder and the
   real app (``create_app``) with uvicorn in a thread, as ``tests/conftest.py`` does, and issues
   a ``system/*.rs`` token;
2. imports every file of the Synthea folder with ``import_paths`` (the import rate), then
   re-imports the bundles under fresh ids (every ``urn:uuid:`` and resource id rewritten,
   Patient identifiers suffixed) until there are about ``--scale`` Observations;
3. measures p50/p95 latency and requests/s of five FHIR interactions over HTTP/1.1 with
   ``--concurrency`` requests in flight, for patients picked at random (seeded);
4. measures the raw driver's ``find_one({"_id": ...})`` rate against the same database at the
   same concurrency (the limit), and prints each FHIR figure as a fraction of it;
5. prints ``explain`` (executionStats) of the queries the searches send to MongoDB.

Everything stops at the end, on an error and on Ctrl-C (or SIGTERM): the server thread, then
the database child process; the temporary folder is removed. Each measured phase stops
issuing requests after ``--budget`` seconds, so the run is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import random
import re
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import pymongo
import uvicorn
from pymongo import AsyncMongoClient, monitoring

from fhir_server import embedded_db
from fhir_server.app import create_app
from fhir_server.config import Settings
from fhir_server.errors import StartupError
from fhir_server.importer import ImportReport, files_under, import_paths
from fhir_server.resources.search import UNRESTRICTED
from fhir_server.resources.search.execute import Plan, plan_for
from fhir_server.services import build_services
from fhir_server.smart import keys
from fhir_server.smart.tokens import issue_access_token

UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
FULL_URL = re.compile(r"urn:uuid:(" + UUID.pattern + ")")
LOINC = "http://loinc.org"
PATIENT_POOL = 200
DB_NAME = "carespace_bench"

Doc = dict[str, Any]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
NEXT_LINK = re.compile(rb'"relation"\s*:\s*"next"\s*,\s*"url"\s*:\s*("(?:[^"\\]|\\.)*")')


# ------------------------------------------------------------------ meters
class CommandCounter(monitoring.CommandListener):
    """Counts the MongoDB commands of every client of this process (registered before any is
    made); during an HTTP phase only the app's client is busy, so it counts the app's round trips."""

    def __init__(self) -> None:
        self.started_count = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.started_count += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def cpu_seconds(stat_path: str) -> float:
    """utime + stime of a thread (/proc/self/task/<tid>/stat) or process (/proc/<pid>/stat)."""
    try:
        fields = Path(stat_path).read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass
class Meters:
    """CPU seconds of the app's thread, of the database process and of the client (this
    thread), and the app's MongoDB commands: robust figures when the machine is shared."""

    app_tid: int
    db_pid: int
    commands: CommandCounter

    def snapshot(self) -> tuple[float, float, float, int]:
        return (cpu_seconds(f"/proc/self/task/{self.app_tid}/stat"), cpu_seconds(f"/proc/{self.db_pid}/stat"),
                time.thread_time(), self.commands.started_count)


# ------------------------------------------------------------------ the running parts
@dataclass
class Running:
    """The database child process and the app's uvicorn thread of one benchmark run."""

    tmp: Path
    db_server: embedded_db.EmbeddedServer | None = None
    uv: uvicorn.Server | None = None
    thread: threading.Thread | None = None
    settings: Settings | None = None

    def start(self) -> Settings:
        self.db_server = embedded_db.start(self.tmp / "embedded", record=False)
        port = embedded_db.free_port()
        data_dir = self.tmp / "server"
        data_dir.mkdir(parents=True, exist_ok=True)
        settings = Settings(mongodb_uri=self.db_server.uri, embedded_db=True, base_url=f"http://127.0.0.1:{port}",
                            data_dir=data_dir, database_name=DB_NAME)
        self.settings = settings
        config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning",
                                lifespan="on", access_log=False)
        self.uv = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.uv.run, name="uvicorn", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.uv.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the app did not start (see the messages above)")
            time.sleep(0.05)
        return settings

    def stop(self) -> None:
        """Stop the app, then the database; each step runs even if the one before failed."""
        try:
            if self.uv is not None and self.thread is not None:
                self.uv.should_exit = True
                self.thread.join(30)
        finally:
            try:
                if self.db_server is not None:
                    self.db_server.stop()
            finally:
                shutil.rmtree(self.tmp, ignore_errors=True)

    def token(self) -> str:
        assert self.settings is not None
        key = keys.load_or_create(self.settings.data_dir)
        token, _ = issue_access_token(key, issuer=self.settings.base_url, audience=self.settings.fhir_base,
                                      subject="bench", scope="system/*.rs", ttl=6 * 3600,
                                      extra={"client_id": "bench"})
        return token


# ------------------------------------------------------------------ import and scaling
def rewrite_bundle(text: str, round_no: int) -> str:
    """The same Synthea bundle under fresh ids: every uuid that is a ``urn:uuid:`` fullUrl is
    replaced everywhere (fullUrls, references, resource ids), and Patient identifiers that
    still carry their old value get a ``-r<round>`` suffix."""
    mapping = {old: str(uuid.uuid4()) for old in set(FULL_URL.findall(text))}
    text = UUID.sub(lambda m: mapping.get(m.group(0), m.group(0)), text)
    bundle = json.loads(text)
    fresh = set(mapping.values())
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") or {}
        if resource.get("resourceType") != "Patient":
            continue
        for identifier in resource.get("identifier") or []:
            if isinstance(identifier.get("value"), str) and identifier["value"] not in fresh:
                identifier["value"] = f"{identifier['value']}-r{round_no}"
    return json.dumps(bundle)


def copy_data_set(source: Path, target: Path) -> None:
    """Copy a stopped server's data dir (its database and key) for another run: without the
    record of the database process that ran on it, and without its logs."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(embedded_db.STATE_FILE, "*.log"))


def report_line(label: str, report: ImportReport) -> str:
    rate = report.total / report.seconds if report.seconds else 0.0
    failed = f", {len(report.failures)} failure(s)" if report.failures else ""
    return (f"{label}: {report.total:,} resources ({report.counts.get('Observation', 0):,} Observations) "
            f"in {report.seconds:.1f} s = {rate:,.0f} resources/s{failed}")


@dataclass
class ImportFigures:
    first: ImportReport
    scaled: ImportReport | None
    rounds: int
    observations: int
    resources: int


async def import_and_scale(settings: Settings, synthea: Path, scale: int, tmp: Path,
                           grown: ImportFigures | None = None) -> ImportFigures:
    """Import Synthea once, then re-import it under fresh ids until about ``scale`` Observations.
    ``grown`` is what a copy of a smaller data set already holds: its rounds are not redone."""
    services = await build_services(settings)
    try:
        if grown is None:
            first = await import_paths(services, [synthea], progress=False)
            print(report_line("import (Synthea, once)", first), flush=True)
            for failure in first.failures[:5]:
                print(f"  ! {failure}", flush=True)
            done = 0
        else:
            first, done = grown.first, grown.rounds
        per_round = first.counts.get("Observation", 0)
        observations = await services.db["Observation"].estimated_document_count()
        rounds = max(0, math.ceil((scale - observations) / per_round)) if per_round else 0
        scaled = ImportReport()
        sources = list(files_under([synthea]))
        for round_no in range(done + 1, done + rounds + 1):
            folder = tmp / f"round-{round_no}"
            folder.mkdir()
            for path in sources:  # rewriting is not timed: only import_paths is
                (folder / path.name).write_text(rewrite_bundle(path.read_text(encoding="utf-8"), round_no),
                                                encoding="utf-8")
            report = await import_paths(services, [folder], progress=False)
            shutil.rmtree(folder)
            scaled.counts.update(report.counts)
            scaled.failures += report.failures
            scaled.files += report.files
            scaled.seconds += report.seconds
            observations = await services.db["Observation"].estimated_document_count()
            print(report_line(f"  re-import round {round_no}/{done + rounds}", report)
                  + f"; {observations:,} Observations stored", flush=True)
        if rounds:
            print(report_line(f"import (scaling, {rounds} rounds under new ids)", scaled), flush=True)
        resources = 0
        for name in await services.db.db.list_collection_names():
            if name[:1].isupper() and name != "AuditEvent":
                resources += await services.db[name].estimated_document_count()
        return ImportFigures(first, scaled if rounds else None, done + rounds, observations, resources)
    finally:
        await services.db.close()


# ------------------------------------------------------------------ workload
@dataclass
class PatientInfo:
    id: str
    family: str
    loinc: list[str]
    observations: int
    observation_ids: list[str]


async def pick_patients(db: Any, rng: random.Random, size: int) -> list[PatientInfo]:
    """A seeded random pool of imported patients with a family name and the LOINC codes of their
    laboratory Observations (read with the driver, outside any timing)."""
    ids = sorted([d["_id"] async for d in db["Patient"].find({}, projection={"_id": 1})])
    pool: list[PatientInfo] = []
    for pid in rng.sample(ids, min(size, len(ids))):
        patient = await db["Patient"].find_one({"_id": pid}, projection={"res.name": 1})
        names = (patient or {}).get("res", {}).get("name") or [{}]
        family = str(names[0].get("family") or "")
        loinc: set[str] = set()
        recent: set[str] = set()  # codes with a result in 2015 or later, so that date=ge2015 finds some
        observation_ids: list[str] = []
        projection = {"res.code": 1, "res.category": 1, "res.effectiveDateTime": 1}
        async for doc in db["Observation"].find({"comp": pid}, projection=projection):
            observation_ids.append(doc["_id"])
            res = doc["res"]
            categories = {c.get("code") for cat in res.get("category") or [] for c in cat.get("coding") or []}
            if "laboratory" in categories:
                codes = {c["code"] for c in res["code"].get("coding") or []
                         if c.get("system") == LOINC and c.get("code")}
                loinc |= codes
                if str(res.get("effectiveDateTime", "")) >= "2015":
                    recent |= codes
        if len(family) >= 3 and loinc:
            pool.append(PatientInfo(pid, family, sorted(recent or loinc), len(observation_ids), observation_ids))
    if not pool:
        raise RuntimeError("no imported patient has a family name and laboratory Observations")
    return pool


@dataclass
class Result:
    name: str
    latencies: list[float] = field(default_factory=list)
    wall: float = 0.0
    errors: int = 0
    first_error: str = ""
    http_requests: int = 0
    entries: int = 0
    sample_entries: float | None = None
    planned: int = 0
    cpu: tuple[float, float, float] = (0.0, 0.0, 0.0)  # app thread, database process, client: seconds
    commands: int = 0

    @property
    def done(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.done / self.wall if self.wall else 0.0

    def per_request(self, value: float) -> float:
        return value / self.done if self.done else float("nan")

    def quantile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))] * 1000


class BenchError(Exception):
    """A request that did not answer as expected."""


Call = Callable[[int, bool], Awaitable[tuple[int, int]]]  # (index, parse) -> (entries, http requests)


async def measure(name: str, call: Call, n: int, concurrency: int, budget: float, warmup: int,
                  meters: Meters) -> Result:
    """``warmup`` calls one by one (parsed: entries per response), then ``n`` timed calls with
    ``concurrency`` in flight; no new call starts after ``budget`` seconds."""
    result = Result(name, planned=n)
    sample: list[int] = []
    for i in range(warmup):
        entries, _ = await call(n + i, True)
        sample.append(entries)
    result.sample_entries = statistics.fmean(sample) if sample else None
    next_index = 0
    deadline = time.monotonic() + budget

    async def worker() -> None:
        nonlocal next_index
        while next_index < n and time.monotonic() < deadline:
            index = next_index
            next_index += 1
            started = time.perf_counter()
            try:
                entries, requests = await call(index, False)
            except (httpx.HTTPError, BenchError, pymongo.errors.PyMongoError) as exc:
                result.errors += 1
                result.first_error = result.first_error or f"{type(exc).__name__}: {exc}"[:200]
                continue
            result.latencies.append(time.perf_counter() - started)
            result.entries += entries
            result.http_requests += requests

    before = meters.snapshot()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.wall = time.perf_counter() - started
    after = meters.snapshot()
    result.cpu = (after[0] - before[0], after[1] - before[1], after[2] - before[2])
    result.commands = after[3] - before[3]
    return result


def checked(response: httpx.Response) -> httpx.Response:
    if response.status_code != 200:
        raise BenchError(f"{response.request.url} answered {response.status_code}: {response.text[:200]}")
    return response


def entries_of(response: httpx.Response) -> int:
    bundle = response.json()
    return sum(1 for e in bundle.get("entry") or [] if e.get("search", {}).get("mode", "match") == "match")


@dataclass
class Workload:
    """The five FHIR interactions, each with its own seeded list of patients."""

    client: httpx.AsyncClient
    pool: list[PatientInfo]
    seed: int

    def pick(self, label: str, index: int) -> tuple[PatientInfo, random.Random]:
        rng = random.Random(f"{self.seed}:{label}:{index}")
        return rng.choice(self.pool), rng

    async def search(self, path: str, params: list[tuple[str, str]], parse: bool) -> tuple[int, int]:
        response = checked(await self.client.get(path, params=params))
        return (entries_of(response) if parse else 0), 1

    def lab_params(self, patient: PatientInfo) -> list[tuple[str, str]]:
        return [("patient", patient.id), ("category", "laboratory"), ("_sort", "-date"), ("_count", "50")]

    def code_params(self, patient: PatientInfo, rng: random.Random) -> list[tuple[str, str]]:
        return [("patient", patient.id), ("code", rng.choice(patient.loinc)), ("date", "ge2015")]

    async def labs(self, index: int, parse: bool) -> tuple[int, int]:
        patient, _ = self.pick("labs", index)
        return await self.search("/Observation", self.lab_params(patient), parse)

    async def code_date(self, index: int, parse: bool) -> tuple[int, int]:
        patient, rng = self.pick("code", index)
        return await self.search("/Observation", self.code_params(patient, rng), parse)

    async def name(self, index: int, parse: bool) -> tuple[int, int]:
        patient, _ = self.pick("name", index)
        return await self.search("/Patient", [("name", patient.family[:3])], parse)

    async def read(self, index: int, parse: bool) -> tuple[int, int]:
        patient, _ = self.pick("read", index)
        response = checked(await self.client.get(f"/Patient/{patient.id}"))
        return (1 if parse and response.json().get("id") == patient.id else 0), 1

    async def everything(self, index: int, parse: bool) -> tuple[int, int]:
        """The whole record: the first page and every next link. The client shares the app's
        process (and its GIL), so it does not parse the pages: it finds the next link in the
        Bundle's head and counts the entries by their ``fullUrl``."""
        patient, _ = self.pick("everything", index)
        response = checked(await self.client.get(f"/Patient/{patient.id}/$everything", params={"_count": "500"}))
        entries, requests = 0, 1
        while True:
            body = response.content
            entries += body.count(b'"fullUrl"')
            if parse and len(response.json().get("entry") or []) != body.count(b'"fullUrl"'):
                raise BenchError("counting entries by fullUrl went wrong")
            head = body.split(b'"entry"', 1)[0]
            found = NEXT_LINK.search(head)
            if found is None:
                return entries, requests
            response = checked(await self.client.get(json.loads(found.group(1))))
            requests += 1


# ------------------------------------------------------------------ the driver's limit
async def driver_find_one(db: Any, collection: str, ids: list[str], n: int, concurrency: int,
                          budget: float, meters: Meters) -> Result:
    async def call(index: int, parse: bool) -> tuple[int, int]:
        doc = await db[collection].find_one({"_id": ids[index % len(ids)]})
        if doc is None:
            raise BenchError(f"{collection}/{ids[index % len(ids)]} not found")
        return 1, 1

    return await measure(f"driver: find_one {collection} by _id", call, n, concurrency, budget,
                         warmup=concurrency, meters=meters)


async def driver_lab_query(db: Any, plans: list[Plan], n: int, concurrency: int, budget: float,
                           meters: Meters) -> Result:
    """The lab search's driving query as the server sends it (filter, sort, batch), first 51 docs."""
    async def call(index: int, parse: bool) -> tuple[int, int]:
        plan = plans[index % len(plans)]
        cursor = db["Observation"].find(plan.bounded_filter(None, False)).sort(plan.mongo_sort(False))
        cursor = cursor.batch_size(51 if plan.exact else 500)  # as execute._run asks for a page of 50
        got = 0
        try:
            async for doc in cursor:
                got += plan.matches(doc)
                if got >= 51:
                    break
        finally:
            await cursor.close()
        return got, 1

    return await measure("driver: the lab search's MongoDB query", call, n, concurrency, budget,
                         warmup=concurrency, meters=meters)


# ------------------------------------------------------------------ explain
def stages(plan: Doc) -> Iterator[str]:
    """The stages of a winning plan, outermost first (with the index name where there is one)."""
    while plan:
        stage = str(plan.get("stage", "?"))
        yield f"{stage}({plan['indexName']})" if plan.get("indexName") else stage
        plan = plan.get("inputStage") or (plan.get("inputStages") or [{}])[0]


async def explain(db: Any, settings: Settings, label: str, resource_type: str,
                  params: list[tuple[str, str]], count: int) -> list[str]:
    plan = plan_for(resource_type, params, base_url=settings.fhir_base, scope=UNRESTRICTED)
    flt = plan.bounded_filter(None, False)
    command: Doc = {"find": resource_type, "filter": flt, "sort": dict(plan.mongo_sort(False))}
    out = [f"{label}", f"    MongoDB filter {json.dumps(flt, default=str)[:110]}, sort {plan.mongo_sort(False)}; "
           f"{len(plan.residual)} clause(s) checked in Python"]
    try:
        answer = await db.command({"explain": command, "verbosity": "executionStats"})
    except pymongo.errors.PyMongoError as exc:
        return [*out, f"    explain failed: {exc}"]
    stats = answer.get("executionStats") or {}
    winning = (answer.get("queryPlanner") or {}).get("winningPlan") or {}
    out.append(f"    plan {' <- '.join(stages(winning)) or '?'}: keys examined {stats.get('totalKeysExamined', '?')}, "
               f"docs examined {stats.get('totalDocsExamined', '?')}, returned {stats.get('nReturned', '?')} "
               "(the whole driving query, run to the end)")
    # What the server really pulls: it streams the query and stops once the page (+1) is full.
    batch = min(max(count + 1, 10), 1000) if plan.exact else 500
    cursor = db[resource_type].find(flt).sort(plan.mongo_sort(False)).batch_size(batch)
    pulled = matched = 0
    try:
        async for doc in cursor:
            pulled += 1
            matched += plan.matches(doc)
            if matched > count:
                break
    finally:
        await cursor.close()
    out.append(f"    the server streams {pulled} doc(s) (batches of {batch}) to fill a page of {min(matched, count)} "
               f"(+1 to know there is a next page)")
    return out


# ------------------------------------------------------------------ report
def machine() -> str:
    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().splitlines()[0].split()[1])
        memory = f", {kb / 1024 / 1024:.0f} GB RAM"
    from importlib.metadata import version

    return (f"{platform.system()} {platform.release()}, {os.cpu_count()} × {model}{memory}; Python "
            f"{platform.python_version()}, pymongo {pymongo.version}, SecantusDB {version('secantusdb')}, "
            f"uvicorn {uvicorn.__version__}, httpx {httpx.__version__}")


def table(rows: list[Result], limit: float) -> str:
    header = (f"{'interaction':<64} {'done':>9} {'p50 ms':>7} {'p95 ms':>7} {'req/s':>7} {'/limit':>7} "
              f"{'entries':>7} {'db ops':>6} | {'CPU ms/req: app':>15} {'db':>5} {'client':>6}")
    lines = [header, "-" * len(header)]
    for r in rows:
        entries = r.entries / r.done if r.done and r.entries else r.sample_entries
        app, db, client = (r.per_request(x) * 1000 for x in r.cpu)
        lines.append(f"{r.name:<64} {f'{r.done}/{r.planned}':>9} {r.quantile(0.5):>7.1f} {r.quantile(0.95):>7.1f} "
                     f"{r.rate:>7.1f} {r.rate / limit if limit else 0:>7.3f} "
                     f"{f'{entries:.0f}' if entries is not None else '':>7} {r.per_request(r.commands):>6.1f} | "
                     f"{app:>15.1f} {db:>5.1f} {client:>6.1f}")
        if r.errors:
            lines.append(f"    {r.errors} error(s), first: {r.first_error}")
    return "\n".join(lines)


# ------------------------------------------------------------------ the run
async def run(args: argparse.Namespace, running: Running, settings: Settings, commands: CommandCounter) -> None:
    began = time.monotonic()
    print(f"machine: {machine()}", flush=True)
    print(f"database: SecantusDB child process at {settings.mongodb_uri}; app: uvicorn thread at "
          f"{settings.base_url}", flush=True)
    figures = await import_and_scale(settings, args.synthea, args.scale, running.tmp)
    print(f"stored: {figures.observations:,} Observations, {figures.resources:,} resources "
          f"({time.monotonic() - began:.0f} s so far)", flush=True)

    assert running.thread is not None and running.thread.native_id is not None and running.db_server is not None
    meters = Meters(running.thread.native_id, running.db_server.process.pid, commands)
    client: AsyncMongoClient[Doc] = AsyncMongoClient(settings.mongodb_uri, tz_aware=True, retryWrites=False,
                                                     maxPoolSize=max(100, args.concurrency))
    db = client[DB_NAME]
    rng = random.Random(args.seed)
    n, c, b = args.requests, args.concurrency, args.budget
    try:
        pool = await pick_patients(db, rng, PATIENT_POOL)
        sizes = sorted(p.observations for p in pool)
        print(f"patients: a pool of {len(pool)} picked at random (seed {args.seed}); Observations per patient "
              f"median {sizes[len(sizes) // 2]}, max {sizes[-1]}", flush=True)
        load_before = os.getloadavg()
        headers = {"Authorization": f"Bearer {running.token()}", "Accept": "application/fhir+json"}
        limits = httpx.Limits(max_connections=c, max_keepalive_connections=c)
        rows: list[Result] = []
        async with httpx.AsyncClient(base_url=settings.fhir_base, headers=headers, timeout=120, limits=limits,
                                     http1=True, http2=False, trust_env=False) as http:
            work = Workload(http, pool, args.seed)
            phases = [
                ("Observation?patient=P&category=laboratory&_sort=-date&_count=50", work.labs, n),
                ("Observation?patient=P&code=<a LOINC of P>&date=ge2015", work.code_date, n),
                ("Patient?name=<3 first letters of a family name>", work.name, n),
                ("Patient/P/$everything?_count=500 (whole record, all pages)", work.everything, max(c, n // 4)),
                ("Patient/P read", work.read, n),
            ]
            for name, call, count in phases:
                result = await measure(name, call, count, c, b, warmup=min(c, 10), meters=meters)
                rows.append(result)
                print(f"  measured {name}: {result.done} in {result.wall:.1f} s", flush=True)
        observation_ids = [i for p in pool for i in p.observation_ids]
        rng.shuffle(observation_ids)
        driver_n = max(2000, 5 * n)
        limit = await driver_find_one(db, "Observation", observation_ids, driver_n, c, b, meters)
        references = [
            limit,
            await driver_find_one(db, "Patient", [p.id for p in pool], driver_n, c, b, meters),
            await driver_lab_query(db, [plan_for("Observation", work.lab_params(p), base_url=settings.fhir_base,
                                                 scope=UNRESTRICTED) for p in pool], n, c, b, meters),
        ]
        load_after = os.getloadavg()
        print(f"  measured the driver ({time.monotonic() - began:.0f} s so far)", flush=True)

        example = pool[0]
        explains = [
            *await explain(db, settings, f"Observation?patient={example.id}&category=laboratory&_sort=-date"
                           "&_count=50", "Observation", work.lab_params(example), 50),
            *await explain(db, settings, f"Observation?patient={example.id}&code={example.loinc[0]}&date=ge2015",
                           "Observation", [("patient", example.id), ("code", example.loinc[0]),
                                           ("date", "ge2015")], 20),
            *await explain(db, settings, f"Patient?name={example.family[:3]}", "Patient",
                           [("name", example.family[:3])], 20),
        ]
    finally:
        await client.close()

    everything = rows[3]
    print()
    print("=" * 150)
    print(f"CareSpace search benchmark — {machine()}")
    print(f"load average (1 min) {load_before[0]:.1f} before the measurements, {load_after[0]:.1f} after")
    print(f"data: {figures.observations:,} Observations, {figures.resources:,} resources "
          f"(Synthea ×{figures.rounds + 1}); {n} requests per query ({max(c, n // 4)} records for $everything), "
          f"{c} in flight, HTTP/1.1 on loopback, the client in the app's process")
    print(f"import: {report_line('Synthea once', figures.first)}")
    if figures.scaled:
        print(f"        {report_line(f'scaling ({figures.rounds} rounds under new ids)', figures.scaled)}")
    print(f"limit: the raw driver's find_one by _id = {limit.rate:,.0f}/s (p50 {limit.quantile(0.5):.1f} ms) "
          f"at {c} in flight")
    print()
    print(table(rows + references, limit.rate))
    print("  req/s for $everything = whole records/s "
          f"({everything.entries / everything.wall if everything.wall else 0:,.0f} resources/s, "
          f"{everything.per_request(everything.http_requests):.1f} pages a record); /limit = req/s ÷ find_one/s;")
    print("  entries = resources per response (per record for $everything); db ops = MongoDB commands the app "
          "sends per request;")
    print("  CPU ms/req = CPU time per request of the app's thread, of the database process and of the client "
          "(the load generator, this thread)")
    print()
    print("explain (executionStats) of the driving queries:")
    for line in explains:
        print(f"  {line}")
    print(f"\nwhole run: {time.monotonic() - began:.0f} s")


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.search", description=__doc__.split("\n\n")[0])
    parser.add_argument("--synthea", type=Path, required=True, help="the folder of Synthea transaction bundles")
    parser.add_argument("--scale", type=int, default=100_000, help="Observations to reach by re-importing")
    parser.add_argument("--requests", type=int, default=400, help="requests per measured query")
    parser.add_argument("--concurrency", type=int, default=20, help="requests in flight")
    parser.add_argument("--budget", type=float, default=120.0, help="seconds at most per measured query")
    parser.add_argument("--seed", type=int, default=7, help="seed of the patient picks")
    args = parser.parse_args(argv)
    if not args.synthea.is_dir():
        parser.error(f"no such folder: {args.synthea}")
    if args.requests < 1 or args.concurrency < 1:
        parser.error("--requests and --concurrency must be at least 1")
    return args


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    signal.signal(signal.SIGTERM, _terminate)
    commands = CommandCounter()
    monitoring.register(commands)  # before the app makes its client
    running = Running(Path(tempfile.mkdtemp(prefix="carespace-bench-")))
    try:
        settings = running.start()
        asyncio.run(run(args, running, settings, commands))
        return 0
    except KeyboardInterrupt:
        print("\ninterrupted: stopping the app and the database", file=sys.stderr, flush=True)
        return 130
    except StartupError as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        running.stop()


if __name__ == "__main__":
    sys.exit(main())
