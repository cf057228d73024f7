"""``carespace backup`` of a large embedded database while writes continue, then ``carespace restore``.

Fills a fresh data dir with N resource-sized documents (half current versions, half history,
with varied text so that compression is not flattered), starts its database as ``serve``
would, and runs ``carespace backup`` while a writer keeps inserting (journaled) and a reader
keeps reading; prints what the writes and reads saw during the backup, then restores into a
fresh data dir and checks the counts. ``python -m bench.backup --documents 1000000``
(``--archive``: the same for ``carespace backup --archive``, the checkpoint archive).
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from pymongo import MongoClient, WriteConcern

from fhir_server import embedded_db

WORDS = ["haemoglobin", "within", "range", "repeat", "in", "three", "months", "fasting", "sample", "taken",
         "left", "arm", "patient", "reports", "mild", "fatigue", "no", "dizziness", "iron", "supplements",
         "advised", "follow", "up", "with", "the", "practice"]


def observation(rng: random.Random, key: str) -> dict:
    return {
        "_id": key, "vid": 1, "comp": ["Patient/p1"],
        "res": {"resourceType": "Observation", "status": "final", "subject": {"reference": "Patient/p1"},
                "code": {"coding": [{"system": "http://loinc.org", "code": "718-7", "display": "Hemoglobin"}]},
                "valueQuantity": {"value": round(rng.uniform(9, 17), 1), "unit": "g/dL"},
                "note": [{"text": " ".join(rng.choices(WORDS, k=110)) + f" {rng.getrandbits(64):x}"}]},
        "idx": {"tok": ["http://loinc.org|718-7", "|718-7", "laboratory"] * 3},
    }


def fill(uri: str, documents: int) -> None:
    rng = random.Random(7)
    with MongoClient(uri, retryWrites=False) as client:
        db = client["carespace"]
        for k in range(documents // 2000):
            db.Observation.insert_many([observation(rng, f"{k}-{i}") for i in range(1000)])
            db.history.insert_many([dict(observation(rng, f"h{k}-{i}"), t="Observation", id=f"{k}-{i}")
                                    for i in range(1000)])


class Load:
    """One journaled writer and one reader, each recording (start, seconds) per operation."""

    def __init__(self, uri: str) -> None:
        self.uri, self.stop = uri, threading.Event()
        self.writes: list[tuple[float, float]] = []
        self.reads: list[tuple[float, float]] = []
        self.threads = [threading.Thread(target=self._write), threading.Thread(target=self._read)]

    def _write(self) -> None:
        with MongoClient(self.uri, retryWrites=False) as client:
            coll = client["carespace"].get_collection("Patient", write_concern=WriteConcern(j=True))
            n = 0
            while not self.stop.is_set():
                started = time.monotonic()
                coll.insert_one({"_id": f"load-{n}", "res": {"resourceType": "Patient"}})
                self.writes.append((started, time.monotonic() - started))
                n += 1

    def _read(self) -> None:
        with MongoClient(self.uri, retryWrites=False) as client:
            coll = client["carespace"]["Observation"]
            while not self.stop.is_set():
                started = time.monotonic()
                coll.find_one({"_id": "0-1"})
                self.reads.append((started, time.monotonic() - started))
                time.sleep(0.01)

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()

    def report(self, began: float, ended: float) -> None:
        for name, samples in (("writes", self.writes), ("reads", self.reads)):
            during = [s for t, s in samples if began <= t <= ended]
            slowest = max((s for t, s in samples if t <= ended and t + s >= began), default=0.0)
            print(f"{name} started during the backup: {len(during)}; slowest one overlapping it: {slowest:.1f} s")


def carespace(*args: str) -> float:
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "fhir_server.cli", *args], capture_output=True, text=True)
    print(result.stdout.strip() or result.stderr.strip())
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=200_000)
    parser.add_argument("--archive", action="store_true", help="time 'carespace backup --archive' instead")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="carespace-bench-backup-") as tmp:
        source, target, file = Path(tmp) / "source", Path(tmp) / "target", Path(tmp) / "bench.backup"
        server = embedded_db.start(source)  # recorded, as 'serve' does: the CLI uses this one
        try:
            started = time.monotonic()
            fill(server.uri, args.documents)
            size = sum(f.stat().st_size for f in (source / "db").rglob("*") if f.is_file())
            print(f"filled {args.documents} documents ({size / 1e6:.0f} MB on disk) "
                  f"in {time.monotonic() - started:.0f} s")
            with Load(server.uri) as load:
                time.sleep(2)
                began = time.monotonic()
                flags = ["--archive"] if args.archive else []
                print(f"backup wall time {carespace('backup', str(file), '--data-dir', str(source), *flags):.1f} s")
                ended = time.monotonic()
                time.sleep(2)
            load.report(began, ended)
        finally:
            alive = server.process.poll() is None
            server.stop()
            log = (source / "embedded-db.log").read_text(errors="replace").strip()
            print(f"database process {'was running' if alive else 'had exited'} at the end; its log: "
                  f"{log[-2000:] or '(empty)'}")
        print(f"restore wall time {carespace('restore', str(file), '--data-dir', str(target)):.1f} s")


if __name__ == "__main__":
    main()
