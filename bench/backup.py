"""How much ``carespace backup`` fits in SecantusDB's ~60 s transaction, and how long a restore takes.

Fills a fresh data dir with N resource-sized documents (half current versions, half history),
then runs ``carespace backup`` and ``carespace restore`` as an operator would and prints their
own summaries. ``python -m bench.backup --documents 200000``
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pymongo import MongoClient

from fhir_server import embedded_db

OBSERVATION = {
    "res": {"resourceType": "Observation", "status": "final", "subject": {"reference": "Patient/p1"},
            "code": {"coding": [{"system": "http://loinc.org", "code": "718-7", "display": "Hemoglobin"}]},
            "valueQuantity": {"value": 13.2, "unit": "g/dL"}, "note": [{"text": "x" * 700}]},
    "idx": {"tok": ["http://loinc.org|718-7", "|718-7", "laboratory"] * 3}, "comp": ["Patient/p1"], "vid": 1,
}


def fill(data_dir: Path, documents: int) -> None:
    server = embedded_db.start(data_dir, record=False)
    try:
        with MongoClient(server.uri, retryWrites=False) as client:
            db = client["carespace"]
            for k in range(documents // 2000):
                db.Observation.insert_many([dict(OBSERVATION, _id=f"{k}-{i}") for i in range(1000)])
                db.history.insert_many([dict(OBSERVATION, _id=f"h{k}-{i}", t="Observation", id=f"{k}-{i}")
                                        for i in range(1000)])
    finally:
        server.stop()


def carespace(*args: str) -> float:
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "fhir_server.cli", *args], capture_output=True, text=True)
    print(result.stdout.strip() or result.stderr.strip())
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="carespace-bench-backup-") as tmp:
        source, target, file = Path(tmp) / "source", Path(tmp) / "target", Path(tmp) / "bench.backup"
        fill(source, args.documents)
        print(f"backup wall time {carespace('backup', str(file), '--data-dir', str(source)):.1f} s")
        print(f"restore wall time {carespace('restore', str(file), '--data-dir', str(target)):.1f} s")


if __name__ == "__main__":
    main()
