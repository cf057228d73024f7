"""``carespace serve --workers N``: N processes on one port over one database, which the parent
started once; what one worker writes every other reads at once, and SIGTERM stops them all."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx

from fhir_server.embedded_db import free_port
from tests.support.serve import Serve, alive


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def test_two_workers_share_one_database_and_stop_together(tmp_path: Path) -> None:
    server = Serve(tmp_path / "var", free_port(), "--workers", "2")
    process, url = server.process, server.url
    try:
        deadline = time.monotonic() + 240  # each worker imports every R4B model: slow on a busy machine
        database = server.database_pid()
        # uvicorn's supervisor starts its workers one after the other: wait for both.
        while len([c for c in children(process.pid) if c != database and b"spawn_main" in
                   Path(f"/proc/{c}/cmdline").read_bytes()]) < 2:
            assert time.monotonic() < deadline, "the second worker did not start"
            time.sleep(0.3)
        headers = {"Authorization": f"Bearer {server.token()}"}
        created = httpx.post(f"{url}/fhir/Patient", headers=headers, timeout=30,
                             json={"resourceType": "Patient", "name": [{"family": "Twoworkers"}]})
        assert created.status_code == 201, created.text
        pid = created.json()["id"]
        # Every new connection may land on either worker: each reads the write back at once.
        for _ in range(12):
            with httpx.Client(headers=headers, timeout=30) as client:
                read = client.get(f"{url}/fhir/Patient/{pid}")
                assert read.status_code == 200 and read.json()["name"][0]["family"] == "Twoworkers"
        found = httpx.get(f"{url}/fhir/Patient", params={"name": "Twoworkers"}, headers=headers, timeout=30)
        assert [e["resource"]["id"] for e in found.json()["entry"]] == [pid]
        workers = [c for c in children(process.pid) if c != database]
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
        assert not alive(database), "the embedded database outlived serve --workers"
        gone_by = time.monotonic() + 15  # init reaps the orphans a moment after
        while any(alive(w) for w in workers) and time.monotonic() < gone_by:
            time.sleep(0.2)
        left = [Path(f"/proc/{w}/cmdline").read_bytes()[:120] for w in workers if alive(w)]
        assert not left, f"outlived serve --workers: {left}"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
