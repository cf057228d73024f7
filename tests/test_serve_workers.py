"""``carespace serve --workers N``: N processes on one port over one database, which the parent
started once; what one worker writes every other reads at once, and SIGTERM stops them all."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from fhir_server.embedded_db import free_port

CARESPACE = [sys.executable, "-m", "fhir_server.cli"]


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def test_two_workers_share_one_database_and_stop_together(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGODB_URI", "CARESPACE_"))}
    data_dir, port = tmp_path / "var", free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"  # a file, not a pipe nobody reads (it would fill and block the server)
    with log.open("ab") as out:
        process = subprocess.Popen([*CARESPACE, "serve", "--workers", "2", "--port", str(port), "--data-dir",
                                    str(data_dir)], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240  # each worker imports every R4B model: slow on a busy machine
        while True:
            try:
                if httpx.get(f"{url}/fhir/metadata", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise AssertionError(log.read_text(errors="replace")[-3000:])
            time.sleep(0.3)
        database = int(json.loads((data_dir / "embedded-db.json").read_text())["pid"])
        # uvicorn's supervisor starts its workers one after the other: wait for both.
        while len([c for c in children(process.pid) if c != database and b"spawn_main" in
                   Path(f"/proc/{c}/cmdline").read_bytes()]) < 2:
            assert time.monotonic() < deadline, "the second worker did not start"
            time.sleep(0.3)
        token = subprocess.run([*CARESPACE, "token", "--scope", "system/*.cruds", "--data-dir", str(data_dir)],
                               env=env, capture_output=True, text=True, timeout=120).stdout.strip()
        headers = {"Authorization": f"Bearer {token}"}
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
