"""Forgot password must not tell a registered email from an unknown one by its answer time
(issue 13, Low 7). Starts the real app on a fresh embedded database (as ``bench.search`` does),
registers one account, then posts the forgot-password form alternately for that email and for
unknown ones, and prints p50/p95 answer times of each.

    .venv/bin/python -m bench.forgot_password [--requests 200]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from pymongo import MongoClient

from bench.search import DB_NAME, Running


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200, help="requests per kind of email")
    args = parser.parse_args(argv)
    running = Running(Path(tempfile.mkdtemp(prefix="carespace-bench-forgot-")))
    try:
        settings = running.start()
        assert running.db_server is not None
        email = "registered@example.org"
        with MongoClient(running.db_server.uri) as mongo:
            mongo[DB_NAME]["accounts"].insert_one({
                "_id": str(uuid.uuid4()), "email": email, "password_hash": "-", "birth_date": "1970-01-01",
                "name": "Bench Person", "kind": "patient", "patient_id": "bench", "related_persons": []})
        times: dict[str, list[float]] = {"registered": [], "unknown": []}
        with httpx.Client(base_url=settings.base_url, timeout=30) as client:
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/forgot-password").text)
            assert csrf
            for i in range(args.requests * 2):
                kind = "registered" if i % 2 == 0 else "unknown"
                address = email if kind == "registered" else f"nobody-{i}@example.org"
                started = time.perf_counter()
                answered = client.post("/forgot-password", data={"email": address, "csrf_token": csrf.group(1)})
                elapsed = (time.perf_counter() - started) * 1000
                assert answered.status_code == 200, answered.text
                if i >= 20:  # warm-up
                    times[kind].append(elapsed)
        for kind, values in times.items():
            print(f"{kind:>10}: p50 {statistics.median(values):6.2f} ms   p95 {percentile(values, 0.95):6.2f} ms"
                  f"   ({len(values)} requests)")
        gap = statistics.median(times["registered"]) - statistics.median(times["unknown"])
        print(f"median gap (registered - unknown): {gap:+.2f} ms")
        return 0
    finally:
        running.stop()


if __name__ == "__main__":
    sys.exit(main())
