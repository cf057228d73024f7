"""A soak: CareSpace under a steady mixed load for many minutes, window by window.

    .venv/bin/python -m bench.soak [--minutes 30] [--rate 34] [--window 60]
        [--synthea ../shared/data/synthea] [--workers 1] [--seed 7] [--db-cache 2G] [--data-dir DIR]

It answers "is the eighth hour as fast as the first minute?". One run:

1. starts ``carespace serve --demo`` as its own process on a fresh data dir (which starts the
   embedded database as the server's child), imports the Synthea folder with ``carespace
   import`` for a realistic record size, and takes a ``system/*.cruds`` token;
2. sends an open-loop load at ``--rate`` requests/s (requests leave on schedule whether or not
   earlier ones have answered, so a slow server shows as latency, not as a lower rate): reads
   by id, lab searches, name searches, creates, updates and deletes of Observations; a
   transaction every 10 s, ``Patient/$everything`` every 20 s, a portal sign-in that reads the
   inbox and sends a message (which the care team then deletes) every 30 s;
3. prints, for every ``--window`` seconds, each kind's p50/p95 and errors, the requests over
   1 s, the worst 10-second median, RSS, open file descriptors and CPU of the server and of the
   database process, and the generator's own CPU (the same work every window: on a shared host
   the neighbours move it, and every figure with it);
4. ends with the drift, last window ÷ first window, of each kind's p50 and p95, and of RSS; the
   same over the first and last thirds of the run (where the periodic kinds have enough
   samples), each with the database's CPU per unit of the generator's over the same spans;
   and keeps every request's timing in ``requests.csv`` beside the logs.

The load generator is this process (asyncio + httpx), apart from the server's; at ~34
requests/s it uses about a tenth of a core.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import csv
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pymongo import MongoClient

from fhir_server.embedded_db import STATE_FILE, embedded_uri, free_port

CARESPACE = [sys.executable, "-m", "fhir_server.cli"]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
JANE = {"email": "jane.doe@example.org", "password": "Jane-Demo-2026!", "birth_date": "1968-04-12"}
STALL_S = 1.0
# Requests a second of each steady kind (34 in all, as in the soak that found the drift). Deletes
# keep pace with creates (a transaction withdraws as many as it adds, and the portal's message is
# deleted after it is sent), so each record keeps its size while the server ages: the audit
# trail, history and churn grow.
MIX = {"read": 12, "lab search": 6, "name search": 5, "create": 4, "update": 3, "delete": 4}
# At most this many requests in flight (below the connection pool's 64): a request due while the
# generator is at the cap is counted as not sent instead of queued, so a starved machine cannot
# make the generator's own backlog the bottleneck (httpcore walks its whole queue on every send).
MAX_IN_FLIGHT = 48
STALL_DUMP_S = 5.0  # a request waiting this long gets the server's and the database's stacks dumped
# The periodic kinds: (kind, every N seconds).
PERIODIC = [("transaction", 10), ("$everything", 20), ("portal", 30)]
# The Observations this soak created that the deletes leave standing (updates pick from them).
KEEP_CREATED = 50
# $everything takes this many patients in turn: one round every 120 s window.
EVERYTHING_ROUND = 6
LAB = "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"


# ------------------------------------------------------------------ the server under test
@dataclass
class Server:
    process: subprocess.Popen[bytes]
    data_dir: Path
    url: str

    @property
    def db_pid(self) -> int:
        return int(json.loads((self.data_dir / STATE_FILE).read_text())["pid"])

    @property
    def mongo_uri(self) -> str:
        return embedded_uri(int(json.loads((self.data_dir / STATE_FILE).read_text())["port"]))

    def carespace(self, *args: str) -> str:
        done = subprocess.run([*CARESPACE, *args, "--data-dir", str(self.data_dir)], capture_output=True,
                              text=True, timeout=3600, env=_env())
        if done.returncode:
            raise SystemExit(f"carespace {args[0]} failed: {done.stderr.strip()}")
        return done.stdout

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("MONGODB_URI", "CARESPACE_"))}


def start_server(data_dir: Path, workers: int, db_cache: str | None = None) -> Server:
    port = free_port()
    args = [*CARESPACE, "serve", "--demo", "--port", str(port), "--data-dir", str(data_dir)]
    if workers > 1:
        args += ["--workers", str(workers)]
    log = (data_dir.parent / "serve.log").open("wb")
    env = _env() | ({"CARESPACE_DB_CACHE_SIZE": db_cache} if db_cache else {})
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
    server = Server(process, data_dir, f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"carespace serve stopped at start-up; see {log.name}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.url}/fhir/metadata", timeout=2).status_code == 200:
                return server
        time.sleep(0.3)
    server.stop()
    raise SystemExit("carespace serve did not answer within 120 s")


# ------------------------------------------------------------------ process meters
@dataclass
class ProcessSample:
    rss_mb: float
    fds: int
    cpu_s: float


def sample(pid: int) -> ProcessSample:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime
    rss = int(fields[21]) * PAGE_SIZE / 2**20
    return ProcessSample(rss, len(os.listdir(f"/proc/{pid}/fd")), cpu)


def server_pids(server: Server) -> list[int]:
    """The server process and its worker children (not the database)."""
    pids = [server.process.pid]
    with contextlib.suppress(FileNotFoundError):
        children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children").read_text().split()
        pids += [int(c) for c in children if int(c) != server.db_pid]
    return pids


def sample_all(pids: list[int]) -> ProcessSample:
    samples = [sample(p) for p in pids]
    return ProcessSample(sum(s.rss_mb for s in samples), sum(s.fds for s in samples), sum(s.cpu_s for s in samples))


# ------------------------------------------------------------------ the load
@dataclass
class Outcome:
    kind: str
    started: float  # seconds since the soak began
    seconds: float
    ok: bool
    error: str = ""  # what the generator caught, when the request raised instead of answering


@dataclass
class Load:
    api: httpx.AsyncClient
    portal_url: str
    patients: list[str]
    rng: random.Random
    created: list[str] = field(default_factory=list)  # Observations this soak created, for updates and deletes
    outcomes: list[Outcome] = field(default_factory=list)
    not_sent: list[float] = field(default_factory=list)  # when a due request found MAX_IN_FLIGHT in flight
    in_flight: dict[object, float] = field(default_factory=dict)  # one per request: when it left (monotonic)
    everything_calls: int = 0

    def patient(self) -> str:
        return self.rng.choice(self.patients)

    def observation(self, patient: str) -> dict[str, Any]:
        return {"resourceType": "Observation", "status": "final",
                "category": [{"coding": [{"system": LAB.split("|")[0], "code": "laboratory"}]}],
                "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7", "display": "Glucose"}]},
                "subject": {"reference": f"Patient/{patient}"},
                "effectiveDateTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "valueQuantity": {"value": round(self.rng.uniform(70, 140), 1), "unit": "mg/dL",
                                  "system": "http://unitsofmeasure.org", "code": "mg/dL"}}

    async def read(self) -> bool:
        return (await self.api.get(f"/Patient/{self.patient()}")).status_code == 200

    async def lab_search(self) -> bool:
        params = {"patient": self.patient(), "category": LAB, "_sort": "-date", "_count": "50"}
        return (await self.api.get("/Observation", params=params)).status_code == 200

    async def name_search(self) -> bool:
        letters = "".join(self.rng.choice("ABCDEFGHIJKLMNOPRSTW") for _ in range(1)) + self.rng.choice("aeiou")
        return (await self.api.get("/Patient", params={"name": letters})).status_code == 200

    async def create(self) -> bool:
        answer = await self.api.post("/Observation", json=self.observation(self.patient()))
        if answer.status_code == 201:
            self.created.append(answer.json()["id"])
        return answer.status_code == 201

    async def update(self) -> bool:
        if not self.created:
            return await self.create()
        # The newest half: the deletes take the oldest, so the two seldom meet.
        obs_id = self.rng.choice(self.created[-KEEP_CREATED // 2:])
        current = await self.api.get(f"/Observation/{obs_id}")
        if current.status_code in (404, 410):
            return True  # deleted meanwhile by the delete kind
        body = current.json()
        body["valueQuantity"]["value"] = round(self.rng.uniform(70, 140), 1)
        # 201: deleted in between and created again by this update (FHIR's update as create), so
        # back on the list for a delete to take; 412: another update of it came first.
        status = (await self.api.put(f"/Observation/{obs_id}", json=body)).status_code
        if status == 201:
            self.created.append(obs_id)
        return status in (200, 201, 412)

    async def delete(self) -> bool:
        if len(self.created) < KEEP_CREATED:
            return await self.create()
        obs_id = self.created.pop(0)
        # 409: an update of the same Observation landed in between (the delete changed nothing).
        return (await self.api.delete(f"/Observation/{obs_id}")).status_code in (200, 204, 409)

    async def transaction(self) -> bool:
        """An EHR's sync: three new results for one patient and three old ones withdrawn, so the
        transactions, like the single writes, leave the records their size."""
        patient = self.patient()
        entries = [{"request": {"method": "POST", "url": "Observation"}, "resource": self.observation(patient)}
                   for _ in range(3)]
        if len(self.created) >= KEEP_CREATED + 3:
            entries += [{"request": {"method": "DELETE", "url": f"Observation/{self.created.pop(0)}"}}
                        for _ in range(3)]
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
        answer = await self.api.post("", json=bundle)
        if answer.status_code != 200:
            return False
        for entry in answer.json().get("entry", [])[:3]:
            self.created.append(entry["response"]["location"].split("/")[1])
        return True

    async def everything(self) -> bool:
        # The same patients in turn, one round a window (see EVERYTHING_ROUND), so every window
        # reads the same records and the windows compare like with like.
        patient = self.patients[self.everything_calls % EVERYTHING_ROUND]
        self.everything_calls += 1
        url: str | None = f"/Patient/{patient}/$everything?_count=500"
        while url:
            page = await self.api.get(url)
            if page.status_code != 200:
                return False
            url = next((link["url"] for link in page.json().get("link", []) if link["relation"] == "next"), None)
        return True

    async def portal(self) -> bool:
        async with httpx.AsyncClient(base_url=self.portal_url, timeout=60) as browser:
            token = await csrf(browser, "/login")
            if (await browser.post("/login", data={**JANE, "csrf_token": token})).status_code != 303:
                return False
            if (await browser.get("/messages")).status_code != 200:
                return False
            token = await csrf(browser, "/messages/new")
            sent = await browser.post("/messages/new", data={"csrf_token": token, "category": "Health",
                                                             "subject": "Soak", "body": "A question."})
            if sent.status_code != 303:
                return False
        # The care team clears the message through the API, so Jane's inbox keeps its size.
        message_id = sent.headers["location"].split("?")[0].rsplit("/", 1)[-1]
        return (await self.api.delete(f"/Communication/{message_id}")).status_code in (200, 204)

    def kinds(self) -> dict[str, Callable[[], Awaitable[bool]]]:
        return {"read": self.read, "lab search": self.lab_search, "name search": self.name_search,
                "create": self.create, "update": self.update, "delete": self.delete,
                "transaction": self.transaction, "$everything": self.everything, "portal": self.portal}


async def csrf(client: httpx.AsyncClient, path: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', (await client.get(path)).text)
    if not match:
        raise RuntimeError(f"{path} has no CSRF field")
    return match.group(1)


async def timed(load: Load, kind: str, call: Callable[[], Awaitable[bool]], t0: float) -> None:
    started, request, error = time.monotonic(), object(), ""
    load.in_flight[request] = started
    try:
        ok = await call()
    except (httpx.HTTPError, KeyError, ValueError) as caught:
        ok, error = False, f"{type(caught).__name__}: {caught}"
    finally:
        del load.in_flight[request]
    load.outcomes.append(Outcome(kind, started - t0, time.monotonic() - started, ok, error))


def dump_stacks(py_spy: str, pids: list[tuple[str, int]], header: str, out: Path) -> None:
    lines = [header]
    for name, pid in pids:
        dump = subprocess.run([py_spy, "dump", "--pid", str(pid)], capture_output=True, text=True, timeout=60)
        lines += [f"===== {name} (pid {pid})", dump.stdout, dump.stderr]
    out.write_text("\n".join(lines))


async def watch_stalls(load: Load, server: Server, keep: Path, t0: float) -> None:
    """When a request has waited STALL_DUMP_S, dump the stacks of the server and the database
    (py-spy, once a minute at most) into ``keep``: what each was doing while nothing answered."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not await asyncio.to_thread(os.path.exists, py_spy):
        print("      (py-spy is not installed: 'make bench' installs it; stalls are counted, not dumped)")
        return
    last_dump = -60.0
    while True:
        await asyncio.sleep(0.5)
        now = time.monotonic()
        oldest = min(load.in_flight.values(), default=now)
        if now - oldest < STALL_DUMP_S or now - last_dump < 60:
            continue
        last_dump = now
        out = keep / f"stall-{now - t0:06.0f}s.txt"
        header = f"oldest request in flight for {now - oldest:.1f} s, {len(load.in_flight)} in flight"
        await asyncio.to_thread(dump_stacks, py_spy, [("database", server.db_pid), ("server", server.process.pid)],
                                header, out)
        print(f"      stall: a request waited {now - oldest:.1f} s; stacks in {out}", flush=True)


async def drive(load: Load, rate: float, seconds: float, t0: float, on_window: Callable[[int], None],
                window: float) -> None:
    """Open loop: each request leaves at its scheduled time; the steady kinds by weight."""
    calls = load.kinds()
    steady = [kind for kind, weight in MIX.items() for _ in range(weight)]
    scale = rate / sum(MIX.values())
    tasks: set[asyncio.Task[None]] = set()
    next_periodic = {kind: 0.0 for kind, _ in PERIODIC}
    windows_done, tick = 0, 1.0 / (sum(MIX.values()) * scale)
    n = 0
    while (now := time.monotonic() - t0) < seconds:
        due = n * tick
        if due > now:
            await asyncio.sleep(due - now)
        kinds = [load.rng.choice(steady)]
        for kind, every in PERIODIC:
            if now >= next_periodic[kind]:
                kinds.append(kind)
                next_periodic[kind] += every
        for kind in kinds:
            if len(tasks) >= MAX_IN_FLIGHT:
                load.not_sent.append(now)
                continue
            task = asyncio.create_task(timed(load, kind, calls[kind], t0))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        n += 1
        if now >= (windows_done + 1) * window:
            windows_done += 1
            on_window(windows_done)
    await asyncio.gather(*tasks)


# ------------------------------------------------------------------ reporting
def quantile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Window:
    index: int
    by_kind: dict[str, tuple[float, float, int, int]]  # p50 ms, p95 ms, count, errors
    slow: int
    worst_10s_median_ms: float
    not_sent: int
    server: ProcessSample
    database: ProcessSample
    server_cores: float = 0.0
    database_cores: float = 0.0
    generator_cores: float = 0.0


KIND_ORDER = [*MIX, *(kind for kind, _ in PERIODIC)]


def summarise(load: Load, index: int, window: float, server: ProcessSample, database: ProcessSample) -> Window:
    start, end = (index - 1) * window, index * window
    outcomes = load.outcomes
    inside = [o for o in outcomes if start <= o.started + o.seconds < end]  # by the time it answered
    by_kind: dict[str, tuple[float, float, int, int]] = {}
    for kind in KIND_ORDER:
        mine = [o for o in inside if o.kind == kind]
        times = [o.seconds * 1000 for o in mine]
        by_kind[kind] = (quantile(times, 0.5), quantile(times, 0.95), len(mine), sum(not o.ok for o in mine))
    buckets: dict[int, list[float]] = defaultdict(list)
    for o in inside:
        buckets[int((o.started + o.seconds) // 10)].append(o.seconds * 1000)
    worst = max((statistics.median(b) for b in buckets.values()), default=float("nan"))
    not_sent = sum(start <= t < end for t in load.not_sent)
    return Window(index, by_kind, sum(o.seconds > STALL_S for o in inside), worst, not_sent, server, database)


def print_window(w: Window) -> None:
    kinds = "  ".join(f"{k} {p50:.0f}/{p95:.0f}" + (f" ERR{err}" if err else "")
                      for k, (p50, p95, _, err) in w.by_kind.items())
    print(f"[{w.index:3d}] {kinds}")
    print(f"      >1s: {w.slow}  worst 10 s median {w.worst_10s_median_ms:.0f} ms  not sent {w.not_sent} | "
          f"server {w.server.rss_mb:.0f} MB {w.server.fds} fds {w.server_cores:.2f} cores | "
          f"db {w.database.rss_mb:.0f} MB {w.database.fds} fds {w.database_cores:.2f} cores | "
          f"generator {w.generator_cores:.2f} cores", flush=True)


def print_drift_row(kind: str, a: tuple[float, float, int], b: tuple[float, float, int]) -> None:
    """One kind's (p50 ms, p95 ms, count) before and after, with the ratios."""
    print(f"  {kind:<12} {a[0]:7.0f} → {b[0]:7.0f} ms ({b[0] / a[0]:.2f}×)   "
          f"{a[1]:7.0f} → {b[1]:7.0f} ms ({b[1] / a[1]:.2f}×)   n {a[2]} → {b[2]}")


def print_drift(first: Window, last: Window) -> None:
    print(f"\ndrift, window {last.index} ÷ window {first.index} (p50 / p95):")
    for kind in KIND_ORDER:
        print_drift_row(kind, first.by_kind[kind][:3], last.by_kind[kind][:3])
    print(f"  server RSS   {first.server.rss_mb:7.0f} → {last.server.rss_mb:7.0f} MB "
          f"({last.server.rss_mb / first.server.rss_mb:.2f}×)")
    print(f"  database RSS {first.database.rss_mb:7.0f} → {last.database.rss_mb:7.0f} MB "
          f"({last.database.rss_mb / first.database.rss_mb:.2f}×)")
    print_host("window", [first], [last])


def print_host(span: str, a: list[Window], b: list[Window]) -> None:
    """The host's pace and the database's CPU over two spans. The generator does the same work
    every window, so its CPU moves with the host (a shared VM's neighbours), not with CareSpace;
    in runs 12 and 14 every kind slowed and sped up with it, by up to 2x. The database's CPU per
    unit of the generator's is its cost as the data ages, whatever the host did. (A fixed task
    timed in a process of its own, tried in run 15, varied ±20 % from probe to probe and did not
    follow the generator.)"""
    gen_a, gen_b = statistics.mean(w.generator_cores for w in a), statistics.mean(w.generator_cores for w in b)
    db_a, db_b = statistics.mean(w.database_cores for w in a), statistics.mean(w.database_cores for w in b)
    print(f"  generator    {gen_a:7.2f} → {gen_b:7.2f} cores ({gen_b / gen_a:.2f}×: the same work, so the host's pace)")
    print(f"  database CPU {db_a:7.2f} → {db_b:7.2f} cores ({db_b / db_a:.2f}×; "
          f"{(db_b / gen_b) / (db_a / gen_a):.2f}× per unit of the generator's, {span} against {span})")


def print_thirds(load: Load, seconds: float, windows: list[Window]) -> None:
    """The same drift over the first and last thirds of the run: a window holds only 4-12 of the
    periodic kinds, so their window p95 is that window's slowest; a third holds 20-60 of them."""
    third = seconds / 3
    print(f"\ndrift, last third ÷ first third ({third / 60:.0f} min each; p50 / p95):")
    for kind in KIND_ORDER:
        mine = [o for o in load.outcomes if o.kind == kind]
        a = [o.seconds * 1000 for o in mine if o.started + o.seconds < third]
        b = [o.seconds * 1000 for o in mine if o.started + o.seconds >= seconds - third]
        print_drift_row(kind, (quantile(a, 0.5), quantile(a, 0.95), len(a)),
                        (quantile(b, 0.5), quantile(b, 0.95), len(b)))
    n = max(1, len(windows) // 3)
    print_host("third", windows[:n], windows[-n:])


def print_overlap(load: Load, seconds: float) -> None:
    """Each steady kind apart from and alongside a periodic request, first third → last: whether
    its p95's drift is the requests themselves or time spent behind the heavy ones."""
    third = seconds / 3
    periodic = {kind for kind, _ in PERIODIC}
    heavy = sorted((o.started, o.started + o.seconds) for o in load.outcomes if o.kind in periodic)
    starts = [start for start, _ in heavy]
    longest = max((end - start for start, end in heavy), default=0.0)

    def alongside(o: Outcome) -> bool:
        end = o.started + o.seconds
        near = heavy[bisect.bisect_left(starts, o.started - longest):bisect.bisect_right(starts, end)]
        return any(start < end and o.started < stop for start, stop in near)

    def cell(outcomes: list[Outcome]) -> str:
        ms = [o.seconds * 1000 for o in outcomes]
        return f"{quantile(ms, 0.5):4.0f}/{quantile(ms, 0.95):<4.0f}"

    print("\nsteady kinds apart from / alongside a periodic request, first third → last (p50/p95 ms):")
    for kind in (k for k in KIND_ORDER if k not in periodic):
        thirds = [[o for o in load.outcomes if o.kind == kind and low <= o.started < low + third]
                  for low in (0.0, seconds - third)]
        apart = [[o for o in t if not alongside(o)] for t in thirds]
        beside = [[o for o in t if alongside(o)] for t in thirds]
        shares = " → ".join(f"{len(b) / max(len(t), 1):.0%}" for b, t in zip(beside, thirds, strict=True))
        print(f"  {kind:<12} apart {cell(apart[0])} → {cell(apart[1])}   "
              f"alongside {cell(beside[0])} → {cell(beside[1])}   ({shares} alongside)")


def save_outcomes(load: Load, out: Path) -> None:
    """Every request (kind, when it left, how long it took, whether it was answered, what it raised) as CSV."""
    with out.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["kind", "started_s", "seconds", "ok", "error"])
        writer.writerows((o.kind, f"{o.started:.3f}", f"{o.seconds:.4f}", int(o.ok), o.error) for o in load.outcomes)


# ------------------------------------------------------------------ the run
def collection_sizes(database: Any) -> dict[str, int]:
    """The collections that grow as the server ages. Counted only outside the timed run: SecantusDB
    counts by reading the whole collection (about 1 s at 100k AuditEvents), and counting at every
    window held the generator up, so requests left late, in a burst that grew with the trail."""
    return {name: database[name].estimated_document_count() for name in ("AuditEvent", "history")}


async def soak(args: argparse.Namespace, server: Server) -> None:
    token = server.carespace("token", "--scope", "system/*.cruds", "--ttl", str(int(args.minutes * 60 + 3600)))
    headers = {"Authorization": f"Bearer {token.strip()}", "Accept": "application/fhir+json"}
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=f"{server.url}/fhir", headers=headers, timeout=120, limits=limits) as api:
        page = await api.get("/Patient", params={"_count": "200", "_elements": "id"})
        patients = [e["resource"]["id"] for e in page.json().get("entry", [])]
        load = Load(api, server.url, patients, random.Random(args.seed))
        mongo: MongoClient[dict[str, Any]] = MongoClient(server.mongo_uri)
        sizes_before = collection_sizes(mongo["carespace"])
        windows: list[Window] = []
        pids = server_pids(server)
        cpu = (sample_all(pids).cpu_s, sample(server.db_pid).cpu_s)
        print(f"{len(patients)} patients; {args.rate:.0f} requests/s for {args.minutes:g} min, "
              f"{args.window:.0f} s windows; p50/p95 ms per kind", flush=True)

        generator_cpu = time.process_time()

        def on_window(index: int) -> None:
            nonlocal cpu, generator_cpu
            app, db = sample_all(server_pids(server)), sample(server.db_pid)
            w = summarise(load, index, args.window, app, db)
            w.server_cores = (app.cpu_s - cpu[0]) / args.window
            w.database_cores = (db.cpu_s - cpu[1]) / args.window
            w.generator_cores = (time.process_time() - generator_cpu) / args.window
            print_window(w)
            cpu, generator_cpu = (app.cpu_s, db.cpu_s), time.process_time()
            windows.append(w)

        t0 = time.monotonic()
        watcher = asyncio.create_task(watch_stalls(load, server, args.keep, t0))
        try:
            await drive(load, args.rate, args.minutes * 60, t0, on_window, args.window)
        finally:
            watcher.cancel()
        sizes_after = collection_sizes(mongo["carespace"])
        mongo.close()
    print("\n" + ", ".join(f"{name} {sizes_before[name]:,} → {sizes_after[name]:,}" for name in sizes_before)
          + " documents (counted before and after the run)")
    errors = sum(not o.ok for o in load.outcomes)
    slow = sorted((o.seconds for o in load.outcomes), reverse=True)[:3]
    print(f"\n{len(load.outcomes):,} requests, {errors} errors, {len(load.not_sent):,} not sent "
          f"(due with {MAX_IN_FLIGHT} in flight); slowest {', '.join(f'{s:.2f} s' for s in slow)}")
    for (kind, error), count in Counter((o.kind, o.error) for o in load.outcomes if not o.ok).most_common():
        print(f"  error: {count} × {kind}: {error or 'an answer the kind does not expect'}")
    first = 1 if args.skip_first and len(windows) >= 3 else 0
    if len(windows) >= 2:
        print_drift(windows[first], windows[-1])
        print_thirds(load, args.minutes * 60, windows[first:])
        print_overlap(load, args.minutes * 60)
    save_outcomes(load, args.keep / "requests.csv")
    print(f"\nevery request: {args.keep / 'requests.csv'}")


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--rate", type=float, default=34, help="requests per second (open loop)")
    parser.add_argument("--window", type=float, default=60, help="seconds per reported window")
    parser.add_argument("--synthea", type=Path, default=Path("../shared/data/synthea"),
                        help="a folder to import first (skipped when missing)")
    parser.add_argument("--keep", type=Path, help="where the server's and the database's logs and the stall "
                        "dumps are kept (default: var/soak/<start time>)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--db-cache", help="the embedded database's cache (CARESPACE_DB_CACHE_SIZE, e.g. 2G); "
                        "default: the server's own default")
    parser.add_argument("--data-dir", type=Path,
                        help="run on this folder and keep it (default: a temporary one); a folder an earlier run "
                        "kept is run again without the import, so fresh processes meet aged data")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-first", action="store_true",
                        help="compare with the second window (the first holds the warm-up)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    args.keep = args.keep or Path("var/soak") / time.strftime("%Y%m%d-%H%M%S")
    args.keep.mkdir(parents=True, exist_ok=True)
    print(f"logs and stall dumps go to {args.keep}", flush=True)
    with contextlib.ExitStack() as stack:
        tmp = args.data_dir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="carespace-soak-")))
        aged = (tmp / "var" / "db").is_dir()  # a previous run's data: fresh processes on aged data
        (tmp / "var").mkdir(parents=True, exist_ok=True)
        server = start_server(tmp / "var", args.workers, args.db_cache)
        try:
            if aged:
                print(f"reusing the data of an earlier run in {tmp}: no import")
            elif args.synthea.is_dir():
                started = time.monotonic()
                server.carespace("import", str(args.synthea))
                print(f"imported {args.synthea} in {time.monotonic() - started:.0f} s")
            asyncio.run(soak(args, server))
        except KeyboardInterrupt:
            return 130
        finally:
            server.stop()
            for log in (tmp / "serve.log", tmp / "var" / "embedded-db.log"):
                if log.exists():
                    shutil.copy(log, args.keep / log.name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
