"""The speed of CareSpace's hot paths, each against the raw driver in the same run.

    .venv/bin/python -m bench.speed --synthea ../shared/data/synthea [--scale 100000]
        [--workers 1] [--duration 15] [--concurrency 20] [--seed 7] [--profile DIR]

What it does (see bench/README.md for figures):

1. builds the data set once per ``--scale`` (Synthea imported, then re-imported under fresh ids
   until about ``--scale`` Observations, with ``bench.search``'s import_and_scale) in a cache
   folder (``var/bench-cache``), growing a copy of the largest smaller one there, and copies it
   for each run, so that a run spends its time measuring, not importing;
2. starts ``carespace serve --workers N`` on the copy in its own process (which starts the
   embedded database as its child), as an operator would;
3. drives each interaction with ``wrk`` (a C load generator in its own process, ``make bench``
   installs it) at ``--concurrency`` connections for ``--duration`` seconds, over paths for
   patients picked at random (seeded); ``$everything`` (whole records, following ``next`` links)
   with httpx from this process;
4. measures the raw driver from this process at the same concurrency: ``find_one`` by ``_id``,
   the lab list's indexed query, journaled ``insert_one`` and ``insert_many``; prints every figure
   with its ratio to the matching raw figure;
5. imports ``--import-files`` Synthea files into a fresh database (``carespace import``'s code)
   against raw journaled ``insert_many`` (batches of 500);
6. prints the RSS of the server (all its workers) and of the database after the load, the load
   average, and with ``--profile`` records each phase with py-spy (raw collapsed stacks).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pymongo import AsyncMongoClient, WriteConcern

from bench.search import (
    NEXT_LINK,
    ImportFigures,
    PatientInfo,
    copy_data_set,
    import_and_scale,
    machine,
    pick_patients,
    report_line,
)
from fhir_server import embedded_db
from fhir_server.config import Settings
from fhir_server.importer import ImportReport, import_paths
from fhir_server.resources.search import UNRESTRICTED
from fhir_server.resources.search.execute import plan_for
from fhir_server.services import build_services
from fhir_server.smart import keys
from fhir_server.smart.tokens import issue_access_token

ROOT = Path(__file__).resolve().parent.parent
LUA = Path(__file__).resolve().parent / "wrk.lua"
DB_NAME = "carespace"
PATIENT_POOL = 200
JOURNALED = WriteConcern(w="majority", j=True)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
Doc = dict[str, Any]


# ------------------------------------------------------------------ processes
def proc_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def proc_rss_mb(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                found += [int(c) for c in (task / "children").read_text().split()]
    return found


@dataclass
class Server:
    """``carespace serve`` in its own process, on a copy of the cached data set."""

    data_dir: Path
    port: int
    workers: int
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    def start(self) -> None:
        self.log = self.data_dir / "serve.log"
        command = [str(ROOT / ".venv/bin/carespace"), "serve", "--data-dir", str(self.data_dir),
                   "--port", str(self.port)]
        if self.workers > 1:
            command += ["--workers", str(self.workers)]
        env = {k: v for k, v in os.environ.items() if k not in ("MONGODB_URI", "CARESPACE_BASE_URL")}
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                            start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"carespace serve stopped: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base_url}/fhir/metadata", timeout=2).status_code == 200:
                    return
            time.sleep(0.3)
        raise RuntimeError("carespace serve did not answer within 120 s")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def db_pid_and_uri(self) -> tuple[int, str]:
        state = json.loads((self.data_dir / embedded_db.STATE_FILE).read_text())
        return int(state["pid"]), embedded_db.embedded_uri(int(state["port"]))

    def app_pids(self) -> list[int]:
        """The serve process and its workers (not the database)."""
        assert self.process is not None
        db_pid, _ = self.db_pid_and_uri()
        pids = [self.process.pid]
        for child in children(self.process.pid):
            if child != db_pid:
                pids += [child, *children(child)]
        return pids

    def token(self) -> str:
        key = keys.load_or_create(self.data_dir)
        token, _ = issue_access_token(key, issuer=self.base_url, audience=f"{self.base_url}/fhir", subject="bench",
                                      scope="system/*.cruds", ttl=6 * 3600, extra={"client_id": "bench"})
        return token

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


# ------------------------------------------------------------------ the data set
# The build writes for minutes on end: with the embedded database's default 512 MB cache, changes
# outgrew eviction once the data set passed ~60k resources and every write waited on it (its
# threads in WiredTiger's cache eviction; a round of 31k resources took 2 minutes, the next had not
# finished after 13). The server measured runs with the default.
BUILD_DB_CACHE = "4G"


async def build_cache(cache: Path, synthea: Path, scale: int, grown: ImportFigures | None) -> None:
    """Import and scale once into ``cache`` (a serve data dir, or a copy of a smaller data set
    that ``grown`` describes); stop the database cleanly."""
    scratch = Path(tempfile.mkdtemp(prefix="carespace-bench-scale-"))
    server = embedded_db.start(cache, record=False, cache_size=BUILD_DB_CACHE)
    try:
        settings = Settings(mongodb_uri=server.uri, embedded_db=True, data_dir=cache, database_name=DB_NAME)
        figures = await import_and_scale(settings, synthea, scale, scratch, grown)
        first = figures.first
        (cache / "bench.json").write_text(json.dumps({
            "observations": figures.observations, "resources": figures.resources, "rounds": figures.rounds,
            "first": {"counts": first.counts, "files": first.files, "seconds": first.seconds},
            "scaled": report_line("scaling", figures.scaled) if figures.scaled else ""}))
    finally:
        server.stop()
        shutil.rmtree(scratch, ignore_errors=True)


def stored_figures(cache: Path) -> ImportFigures:
    """What a cached data set holds, from its ``bench.json``."""
    stored = json.loads((cache / "bench.json").read_text())
    first = ImportReport(Counter(stored["first"]["counts"]), [], stored["first"]["files"], stored["first"]["seconds"])
    return ImportFigures(first, None, stored["rounds"], stored["observations"], stored["resources"])


def smaller_cache(root: Path, scale: int) -> Path | None:
    """The largest data set cached in ``root`` for fewer Observations: a new one grows from it."""
    sizes = [int(path.name.removeprefix("scale-")) for path in root.glob("scale-*")
             if path.name.removeprefix("scale-").isdigit() and (path / "bench.json").exists()]
    below = [n for n in sizes if n < scale]
    return root / f"scale-{max(below)}" if below else None


# ------------------------------------------------------------------ measuring
@dataclass
class Figure:
    name: str
    rate: float  # per second
    p50: float = float("nan")  # ms
    p95: float = float("nan")
    done: int = 0
    errors: int = 0
    cpu_app: float = float("nan")  # ms per request
    cpu_db: float = float("nan")
    cpu_client: float = float("nan")
    versus: str = ""  # the raw figure this one is compared with
    extra: dict[str, Any] = field(default_factory=dict)


class Meter:
    """CPU seconds of the server's processes and the database's, around one phase."""

    def __init__(self, server: Server, db_pid: int) -> None:
        self.server, self.db_pid = server, db_pid

    def snapshot(self) -> tuple[float, float]:
        return sum(proc_cpu(p) for p in self.server.app_pids()), proc_cpu(self.db_pid)


def run_wrk(base_url: str, paths: list[str], token: str, duration: float, concurrency: int, workdir: Path,
            bodies: list[str] | None = None) -> tuple[dict[str, Any], float]:
    """One wrk run; returns its figures and wrk's own CPU seconds."""
    paths_file = workdir / "paths.txt"
    paths_file.write_text("\n".join(paths) + "\n")
    env = {**os.environ, "BENCH_PATHS": str(paths_file), "BENCH_TOKEN": token, "BENCH_BODIES": ""}
    if bodies:
        bodies_file = workdir / "bodies.txt"
        bodies_file.write_text("\n".join(bodies) + "\n")
        env["BENCH_BODIES"] = str(bodies_file)
    command = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(duration))}s", "--timeout", "30s",
               "-s", str(LUA), base_url]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    assert process.stdout is not None
    output = process.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    for line in output.splitlines():
        if line.startswith("BENCH_JSON "):
            return json.loads(line[len("BENCH_JSON "):]), usage.ru_utime + usage.ru_stime
    raise RuntimeError(f"wrk gave no figures: {output[-1000:]}")


def profile(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    py_spy = ROOT / ".venv/bin/py-spy"
    return subprocess.Popen([str(py_spy), "record", "-p", str(pid), "-d", str(max(1, round(seconds))), "-r", "97",
                             "-f", "raw", "-o", str(out), "--nonblocking"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def http_phase(name: str, server: Server, meter: Meter, paths: list[str], token: str, args: argparse.Namespace,
               workdir: Path, bodies: list[str] | None = None) -> Figure:
    run_wrk(server.base_url, paths, token, 2, args.concurrency, workdir, bodies)  # warm-up
    spy = None
    if args.profile:
        pid = server.app_pids()[-1] if server.workers > 1 else server.app_pids()[0]
        slug = "".join(c if c.isalnum() else "-" for c in name)[:40].strip("-")
        spy = profile(pid, args.duration, args.profile / f"{slug}.txt")
    before = meter.snapshot()
    figures, client_cpu = run_wrk(server.base_url, paths, token, args.duration, args.concurrency, workdir, bodies)
    after = meter.snapshot()
    if spy:
        spy.wait(30)
    done = int(figures["requests"])
    rate = done / (figures["duration_us"] / 1e6)
    per = 1000 / done if done else float("nan")
    return Figure(name, rate, figures["p50_us"] / 1000, figures["p95_us"] / 1000, done,
                  int(figures["status_errors"]) + int(figures["socket_errors"]),
                  (after[0] - before[0]) * per, (after[1] - before[1]) * per, client_cpu * per)


async def concurrent(n_total: int, concurrency: int, budget: float, call: Any) -> tuple[int, float, list[float]]:
    """``call(i)`` with ``concurrency`` in flight until ``n_total`` or ``budget`` seconds."""
    next_index = 0
    latencies: list[float] = []
    deadline = time.monotonic() + budget

    async def worker() -> None:
        nonlocal next_index
        while next_index < n_total and time.monotonic() < deadline:
            index = next_index
            next_index += 1
            started = time.perf_counter()
            await call(index)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(latencies), time.perf_counter() - started, latencies


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


async def driver_figure(name: str, concurrency: int, duration: float, call: Any, meter: Meter) -> Figure:
    await concurrent(concurrency * 5, concurrency, 5, call)  # warm-up
    before = meter.snapshot()
    cpu_before = time.process_time()
    done, wall, latencies = await concurrent(10**9, concurrency, duration, call)
    after = meter.snapshot()
    per = 1000 / done if done else float("nan")
    return Figure(name, done / wall, quantile(latencies, 0.5), quantile(latencies, 0.95), done, 0,
                  float("nan"), (after[1] - before[1]) * per, (time.process_time() - cpu_before) * per)


def observation_body(patient_id: str, rng: random.Random) -> str:
    value = round(rng.uniform(3.5, 9.5), 1)
    return json.dumps({
        "resourceType": "Observation", "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                  "code": "laboratory"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "6690-2", "display": "Leukocytes"}]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": f"2026-{rng.randint(1, 11):02d}-{rng.randint(1, 28):02d}T09:30:00Z",
        "valueQuantity": {"value": value, "unit": "10*3/uL", "system": "http://unitsofmeasure.org",
                          "code": "10*3/uL"}}, separators=(",", ":"))


# ------------------------------------------------------------------ the run
async def measure_all(args: argparse.Namespace, server: Server, workdir: Path) -> list[str]:
    db_pid, uri = server.db_pid_and_uri()
    meter = Meter(server, db_pid)
    client: AsyncMongoClient[Doc] = AsyncMongoClient(uri, tz_aware=True, retryWrites=False, maxPoolSize=100)
    db = client[DB_NAME]
    rng = random.Random(args.seed)
    token = server.token()
    c = args.concurrency
    out: list[str] = []
    try:
        pool = await pick_patients(db, rng, PATIENT_POOL)
        sizes = sorted(p.observations for p in pool)
        out.append(f"patients: a pool of {len(pool)} picked at random (seed {args.seed}); Observations per patient "
                   f"median {sizes[len(sizes) // 2]}, max {sizes[-1]}")
        load_before = os.getloadavg()

        def lab_path(p: PatientInfo) -> str:
            return f"/fhir/Observation?patient={p.id}&category=laboratory&_sort=-date&_count=50"

        picks = [rng.choice(pool) for _ in range(2000)]
        phases = [
            # No database, no token, no audit: what any request of this server costs at the least.
            ("GET /healthz (the HTTP stack alone)", ["/healthz"] * 10, None, "find_one"),
            ("GET /fhir/Patient/{id}", [f"/fhir/Patient/{p.id}" for p in picks], None, "find_one"),
            ("lab list Observation?patient&category=laboratory&_sort=-date&_count=50",
             [lab_path(p) for p in picks], None, "find_one"),
            ("Observation?patient&code&date=ge2015",
             [f"/fhir/Observation?patient={p.id}&code={rng.choice(p.loinc)}&date=ge2015" for p in picks], None,
             "find_one"),
            ("Patient?name=<3 letters>", [f"/fhir/Patient?name={p.family[:3]}" for p in picks], None, "find_one"),
            ("POST /fhir/Observation (journaled, audited)", ["/fhir/Observation"] * 10,
             [observation_body(p.id, rng) for p in picks], "insert_one"),
        ]
        keys = ["floor", "read", "lab", "code", "name", "post"]
        phases = [phase for key, phase in zip(keys, phases, strict=True) if key in args.only]
        if args.warm_up > 0:
            # The server starts on a copied data set with a cold database cache: the first phase
            # would pay for loading the pool's records (p95s of seconds). Touch every patient of
            # the pool once, by every GET the phases send, before anything is measured.
            warm = [path for p in pool for path in (f"/fhir/Patient/{p.id}", lab_path(p),
                                                    f"/fhir/Patient?name={p.family[:3]}")]
            rng.shuffle(warm)
            run_wrk(server.base_url, warm, token, args.warm_up, c, workdir)
            out.append(f"warm-up: {args.warm_up:.0f} s of reads, lab lists and name searches over the pool")
        figures: list[Figure] = []
        # The raw figure each phase is held against, measured right before and right after it too:
        # on a shared machine the load moves within a run, and the adjacent ratio moves less.
        observation_ids = [i for p in pool for i in p.observation_ids]
        rng.shuffle(observation_ids)
        scratch = db.get_collection("bench_scratch", write_concern=JOURNALED)
        sample = await db["Observation"].find_one({"_id": observation_ids[0]})
        assert sample is not None

        async def find_one(index: int) -> None:
            if await db["Observation"].find_one({"_id": observation_ids[index % len(observation_ids)]}) is None:
                raise RuntimeError("an Observation vanished")

        async def insert_one(index: int) -> None:
            await scratch.insert_one({**sample, "_id": f"one-{index}-{time.monotonic_ns()}"})

        adjacent_calls = {"find_one": find_one, "insert_one": insert_one}
        for name, paths, bodies, versus in phases:
            window = max(3.0, args.duration / 3)
            before = await driver_figure(versus, c, window, adjacent_calls[versus], meter)
            figure = http_phase(name, server, meter, paths, token, args, workdir, bodies)
            after = await driver_figure(versus, c, window, adjacent_calls[versus], meter)
            figure.versus = versus
            figure.extra["adjacent"] = (before.rate + after.rate) / 2
            figures.append(figure)
            print(f"  {name}: {figure.rate:,.0f}/s ({figure.rate / figure.extra['adjacent']:.1%} of the adjacent "
                  f"raw {versus})", flush=True)

        # $everything: whole records, every next link followed (httpx from this process).
        if "everything" in args.only:
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"}
            async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=120,
                                         limits=httpx.Limits(max_connections=c), trust_env=False) as http:
                entries = 0

                async def everything(index: int) -> None:
                    nonlocal entries
                    patient = picks[index % len(picks)]
                    response = await http.get(f"/fhir/Patient/{patient.id}/$everything", params={"_count": "500"})
                    while True:
                        response.raise_for_status()
                        entries += response.content.count(b'"fullUrl"')
                        found = NEXT_LINK.search(response.content.split(b'"entry"', 1)[0])
                        if found is None:
                            return
                        response = await http.get(json.loads(found.group(1)))

                await concurrent(c, c, 30, everything)
                before = meter.snapshot()
                done, wall, latencies = await concurrent(max(c, 4 * c), c, args.duration * 2, everything)
                after = meter.snapshot()
                per = 1000 / done if done else float("nan")
                figures.append(Figure("Patient/{id}/$everything, whole records", done / wall, quantile(latencies, 0.5),
                                      quantile(latencies, 0.95), done, 0, (after[0] - before[0]) * per,
                                      (after[1] - before[1]) * per, float("nan"), "find_one",
                                      {"entries": entries}))
            print("  $everything measured", flush=True)

        # The raw driver, same database, same concurrency.
        plans = [plan_for("Observation", [("patient", p.id), ("category", "laboratory"), ("_sort", "-date"),
                                          ("_count", "50")], base_url=f"{server.base_url}/fhir", scope=UNRESTRICTED)
                 for p in pool]

        async def lab_query(index: int) -> None:
            # The naive indexed query: the patient's lab Observations, sorted by date, first 51 documents.
            plan = plans[index % len(plans)]
            cursor = db["Observation"].find(plan.bounded_filter(None, False)).sort(plan.mongo_sort(False)).limit(51)
            await cursor.to_list(None)

        batch = 500

        async def insert_many(index: int) -> None:
            stamp = time.monotonic_ns()
            await scratch.insert_many([{**sample, "_id": f"many-{index}-{stamp}-{i}"} for i in range(batch)])

        raw = {
            "find_one": await driver_figure("driver: find_one Observation by _id", c, args.duration, find_one, meter),
            "lab query": await driver_figure("driver: the lab list's indexed query (sort, limit 51)", c,
                                             args.duration, lab_query, meter),
            "insert_one": await driver_figure("driver: insert_one, journaled", c, args.duration, insert_one, meter),
        }
        many = await driver_figure(f"driver: insert_many of {batch}, journaled", 4, args.duration, insert_many, meter)
        many.rate *= batch
        many.name += " (documents/s)"
        raw["insert_many"] = many
        raw["lab query"].versus = "find_one"  # the naive query: the one a search must beat
        await scratch.drop()
        load_after = os.getloadavg()
        print("  the driver measured", flush=True)

        rss_app = sum(proc_rss_mb(p) for p in server.app_pids())
        rss_db = proc_rss_mb(db_pid)
        out.append(f"load average (1 min) {load_before[0]:.1f} before the measurements, {load_after[0]:.1f} after")
        out.append("")
        out.append(table(figures, raw))
        out.append("")
        out.append(f"memory after the load: server {rss_app:,.0f} MB RSS ({server.workers} worker(s)), "
                   f"database {rss_db:,.0f} MB RSS, together {rss_app + rss_db:,.0f} MB")
        if not args.skip_import and "import" in args.only:
            out += await import_phase(args, raw["insert_many"])
        return out
    finally:
        await client.close()


def table(figures: list[Figure], raw: dict[str, Figure]) -> str:
    header = (f"{'interaction':<72} {'done':>6} {'p50 ms':>7} {'p95 ms':>7} {'per s':>8} {'ratio':>7} "
              f"{'adjacent':>8} {'to raw':<11}| {'CPU ms: app':>11} {'db':>5} {'client':>6}")
    lines = [header, "-" * len(header)]
    for f in [*figures, *raw.values()]:
        ratio = f"{f.rate / raw[f.versus].rate:>7.1%}" if f.versus in raw and raw[f.versus].rate else f"{'':>7}"
        adjacent = f"{f.rate / f.extra['adjacent']:>8.1%}" if f.extra.get("adjacent") else f"{'':>8}"
        errors = f"  ({f.errors} errors)" if f.errors else ""
        lines.append(f"{f.name:<72} {f.done:>6} {f.p50:>7.1f} {f.p95:>7.1f} {f.rate:>8,.0f} {ratio} {adjacent} "
                     f"{f.versus:<11}| {f.cpu_app:>11.2f} {f.cpu_db:>5.2f} {f.cpu_client:>6.2f}{errors}")
    lines.append("  ratio = per s ÷ the raw driver's figure named in 'to raw' (measured after the HTTP phases); "
                 "adjacent = per s ÷ that raw figure measured right before and after the phase; CPU ms = CPU time "
                 "per request of the server (all workers), of the database and of the load generator")
    return "\n".join(lines)


async def import_phase(args: argparse.Namespace, raw_many: Figure) -> list[str]:
    """The Synthea folder once into a fresh database, as ``carespace import`` does it."""
    folder = Path(tempfile.mkdtemp(prefix="carespace-bench-import-"))
    server = embedded_db.start(folder, record=False)
    try:
        settings = Settings(mongodb_uri=server.uri, embedded_db=True, data_dir=folder, database_name=DB_NAME)
        files = sorted(args.synthea.glob("*.json"))[: args.import_files]
        services = await build_services(settings)
        spy = profile(os.getpid(), 600, args.profile / "import.txt") if args.profile else None
        try:
            report = await import_paths(services, files, progress=False)
        finally:
            await services.db.close()
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes what it has on SIGINT
                spy.wait(30)
        rate = report.total / report.seconds if report.seconds else 0.0
        return [report_line("import (carespace import's code, journaled, fresh database)", report)
                + f" — {rate / raw_many.rate:.1%} of raw journaled insert_many ({raw_many.rate:,.0f} documents/s)"]
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


PHASES = "floor,read,lab,code,name,post,everything,import"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.speed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--synthea", type=Path, required=True, help="the folder of Synthea transaction bundles")
    parser.add_argument("--scale", type=int, default=100_000, help="Observations in the data set")
    parser.add_argument("--workers", type=int, default=1, help="carespace serve --workers")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of load per interaction")
    parser.add_argument("--concurrency", type=int, default=20, help="requests in flight")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cache", type=Path, default=ROOT / "var" / "bench-cache",
                        help="where the imported data sets are kept between runs")
    parser.add_argument("--warm-up", type=float, default=20.0,
                        help="seconds of GETs over the patient pool before the first phase (0: none)")
    parser.add_argument("--profile", type=Path, help="record each HTTP phase with py-spy into this folder")
    parser.add_argument("--skip-import", action="store_true", help="do not measure the import rate")
    parser.add_argument("--import-files", type=int, default=30,
                        help="Synthea files the import is measured on (into a fresh database)")
    parser.add_argument("--only", type=lambda v: set(v.split(",")), default=set(PHASES.split(",")),
                        help=f"the phases to measure, of {PHASES} (the raw driver is always measured)")
    args = parser.parse_args(argv)
    if not args.synthea.is_dir():
        parser.error(f"no such folder: {args.synthea}")
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed: run 'make bench' (it installs Debian's wrk)")
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    cache = args.cache / f"scale-{args.scale}"
    if not (cache / "bench.json").exists():
        print(f"building the data set of ~{args.scale:,} Observations in {cache} (once)", flush=True)
        shutil.rmtree(cache, ignore_errors=True)
        grown = None
        if (smaller := smaller_cache(args.cache, args.scale)) is not None:
            print(f"  grown from a copy of {smaller}", flush=True)
            copy_data_set(smaller, cache)
            grown = stored_figures(smaller)
        else:
            cache.mkdir(parents=True)
        asyncio.run(build_cache(cache, args.synthea, args.scale, grown))
    stored = stored_figures(cache)
    tmp = Path(tempfile.mkdtemp(prefix="carespace-bench-"))
    server = Server(tmp / "server", embedded_db.free_port(), args.workers)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        copy_data_set(cache, server.data_dir)
        server.start()
        print(f"carespace serve --workers {args.workers} at {server.base_url} on a copy of {cache}", flush=True)
        lines = asyncio.run(measure_all(args, server, tmp))
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except Exception:
        for log in (server.data_dir / "serve.log", server.data_dir / "embedded-db.log"):
            with contextlib.suppress(OSError):
                print(f"--- the end of {log.name}:\n{log.read_text(errors='replace')[-3000:]}", file=sys.stderr)
        raise
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    print("=" * 140)
    print(f"CareSpace speed benchmark — {machine()}")
    print(f"data: {stored.observations:,} Observations, {stored.resources:,} resources (Synthea ×"
          f"{stored.rounds + 1}); wrk -t1 -c{args.concurrency}, {args.duration:.0f} s per interaction; "
          f"carespace serve --workers {args.workers}")
    for line in lines:
        print(line)
    print(f"\nwhole run: {time.monotonic() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
