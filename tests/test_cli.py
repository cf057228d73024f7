"""The ``carespace`` command as an operator uses it: serve, token, import, restarts, crashes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fhir_server.embedded_db import free_port
from tests.support.shared_data import SHARED_DATA, require_shared_data

CARESPACE = [sys.executable, "-m", "fhir_server.cli"]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGODB_URI", "CARESPACE_"))}
    return env


class Serve:
    def __init__(self, data_dir: Path, port: int, *extra: str) -> None:
        self.data_dir, self.port = data_dir, port
        self.url = f"http://127.0.0.1:{port}"
        # Its output goes to a file: a pipe nobody reads fills up with the per-request log
        # lines and then blocks the server in the middle of a request.
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.log = data_dir.parent / f"serve-{port}.log"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([*CARESPACE, "serve", "--port", str(port), "--data-dir", str(data_dir),
                                             *extra], env=_env(), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180  # a --demo start on a busy machine
        while True:
            try:
                if httpx.get(f"{self.url}/fhir/metadata", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(self.log.read_text(errors="replace")[-4000:])
            time.sleep(0.2)

    def carespace(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CARESPACE, *args, "--data-dir", str(self.data_dir)], env=_env(),
                              capture_output=True, text=True, timeout=300)

    def client(self) -> httpx.Client:
        token = self.carespace("token", "--scope", "system/*.cruds").stdout.strip()
        return httpx.Client(base_url=f"{self.url}/fhir", headers={"Authorization": f"Bearer {token}"}, timeout=60)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        # SIGTERM's budget: CARESPACE_SHUTDOWN_TIMEOUT (20 s) for requests in flight, as much for
        # mail being delivered, then the database's own stop; a loaded CI machine needs slack.
        self.process.send_signal(sig)
        return self.process.wait(120)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    server = Serve(tmp_path / "var", free_port())
    yield server
    if server.process.poll() is None:
        server.stop()


def db_pid(data_dir: Path) -> int:
    return int(json.loads((data_dir / "embedded-db.json").read_text())["pid"])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_token_import_and_restart_keep_data(serve: Serve) -> None:
    with serve.client() as client:
        created = client.post("/Patient", json={"resourceType": "Patient", "name": [{"family": "Durable"}]})
        assert created.status_code == 201
        pid = created.json()["id"]
    bundle = sorted(require_shared_data(SHARED_DATA / "synthea").glob("*.json"))
    assert bundle, "no Synthea bundle in the shared data"
    result = serve.carespace("import", str(bundle[0]))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Observation" in result.stdout and "resources/s" in result.stdout
    database = db_pid(serve.data_dir)
    assert serve.stop() == 0
    assert not alive(database), "the embedded database outlived serve"
    again = Serve(serve.data_dir, serve.port)
    try:
        with again.client() as client:
            assert client.get(f"/Patient/{pid}").json()["name"][0]["family"] == "Durable"
            observations = client.get("/Observation", params={"_summary": "count"}).json()
            assert observations["total"] > 50
    finally:
        again.stop()


def test_second_serve_on_the_same_data_dir_and_busy_port_say_so(serve: Serve) -> None:
    same_dir = subprocess.run([*CARESPACE, "serve", "--port", str(free_port()), "--data-dir", str(serve.data_dir)],
                              env=_env(), capture_output=True, text=True, timeout=60)
    assert same_dir.returncode == 1
    assert "already using the data directory" in same_dir.stderr
    assert "Traceback" not in same_dir.stderr
    busy = subprocess.run([*CARESPACE, "serve", "--port", str(serve.port), "--data-dir", str(serve.data_dir) + "2"],
                          env=_env(), capture_output=True, text=True, timeout=60)
    assert busy.returncode == 1
    assert f"Port {serve.port}" in busy.stderr


@pytest.mark.parametrize("command", [["import", "."], ["serve", "--port", "0"]])
def test_unreachable_mongodb_uri_is_one_sentence(tmp_path: Path, command: list[str]) -> None:
    env = {**_env(), "MONGODB_URI": f"mongodb://127.0.0.1:{free_port()}/?serverSelectionTimeoutMS=500"}
    result = subprocess.run([*CARESPACE, *command, "--data-dir", str(tmp_path)], env=env, capture_output=True,
                            text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 1
    assert "does not answer" in result.stderr
    assert "Traceback" not in result.stderr


def test_token_refuses_non_system_scopes(tmp_path: Path) -> None:
    result = subprocess.run([*CARESPACE, "token", "--scope", "patient/*.rs", "--data-dir", str(tmp_path)],
                            env=_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "system/ scopes" in result.stderr


def test_reimporting_a_deleted_id_continues_its_version_line(serve: Serve, tmp_path: Path) -> None:
    with serve.client() as client:
        client.put("/Patient/reimported", json={"resourceType": "Patient", "id": "reimported", "gender": "male"})
        client.delete("/Patient/reimported")
        ndjson = tmp_path / "Patient.ndjson"
        ndjson.write_text(json.dumps({"resourceType": "Patient", "id": "reimported", "gender": "female"}) + "\n")
        result = serve.carespace("import", str(ndjson))
        assert result.returncode == 0, result.stdout + result.stderr
        current = client.get("/Patient/reimported").json()
        assert (current["gender"], current["meta"]["versionId"]) == ("female", "3")
        history = client.get("/Patient/reimported/_history").json()
        assert [e["request"]["method"] for e in history["entry"]] == ["PUT", "DELETE", "POST"]  # newest first
        assert client.get("/Patient/reimported/_history/3").json()["gender"] == "female"


def test_an_invalid_setting_is_named_not_a_traceback(tmp_path: Path) -> None:
    env = {**_env(), "CARESPACE_DB_CACHE_SIZE": "plenty"}
    result = subprocess.run([*CARESPACE, "token", "--scope", "system/*.rs", "--data-dir", str(tmp_path)],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "CARESPACE_DB_CACHE_SIZE" in result.stderr and "Traceback" not in result.stderr
    assert not result.stdout
