"""The ``carespace`` command as an operator uses it: serve, token, import, restarts, crashes."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fhir_server.embedded_db import free_port
from tests.support.serve import CARESPACE, Serve, alive, env
from tests.support.shared_data import SHARED_DATA, require_shared_data


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    server = Serve(tmp_path / "var", free_port())
    yield server
    if server.process.poll() is None:
        server.stop()


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
    database = serve.database_pid()
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
                              env=env(), capture_output=True, text=True, timeout=60)
    assert same_dir.returncode == 1
    assert "already using the data directory" in same_dir.stderr
    assert "Traceback" not in same_dir.stderr
    busy = subprocess.run([*CARESPACE, "serve", "--port", str(serve.port), "--data-dir", str(serve.data_dir) + "2"],
                          env=env(), capture_output=True, text=True, timeout=60)
    assert busy.returncode == 1
    assert f"Port {serve.port}" in busy.stderr


@pytest.mark.parametrize("command", [["import", "."], ["serve", "--port", "0"]])
def test_unreachable_mongodb_uri_is_one_sentence(tmp_path: Path, command: list[str]) -> None:
    environment = {**env(), "MONGODB_URI": f"mongodb://127.0.0.1:{free_port()}/?serverSelectionTimeoutMS=500"}
    result = subprocess.run([*CARESPACE, *command, "--data-dir", str(tmp_path)], env=environment, capture_output=True,
                            text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 1
    assert "does not answer" in result.stderr
    assert "Traceback" not in result.stderr


def test_token_refuses_non_system_scopes(tmp_path: Path) -> None:
    result = subprocess.run([*CARESPACE, "token", "--scope", "patient/*.rs", "--data-dir", str(tmp_path)],
                            env=env(), capture_output=True, text=True, timeout=60)
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
    environment = {**env(), "CARESPACE_DB_CACHE_SIZE": "plenty"}
    result = subprocess.run([*CARESPACE, "token", "--scope", "system/*.rs", "--data-dir", str(tmp_path)],
                            env=environment, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "CARESPACE_DB_CACHE_SIZE" in result.stderr and "Traceback" not in result.stderr
    assert not result.stdout


def test_an_unknown_time_zone_is_named_not_a_traceback(tmp_path: Path) -> None:
    environment = {**env(), "CARESPACE_TIMEZONE": "Mars/Olympus"}
    result = subprocess.run([*CARESPACE, "token", "--scope", "system/*.rs", "--data-dir", str(tmp_path)],
                            env=environment, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and not result.stdout
    assert "CARESPACE_TIMEZONE" in result.stderr and "not a time zone name" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def _healthz_on(sock: socket.socket) -> bytes:
    """GET /healthz on an open connection; the status line, or b"" if the server had closed it."""
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = re.search(rb"content-length: (\d+)", head, re.IGNORECASE)
    while length and len(body) < int(length.group(1)):
        body += sock.recv(65536)
    return head.split(b"\r\n", 1)[0]


def test_an_idle_connection_outlives_the_clients_own_idle_timeout(serve: Serve) -> None:
    """A client (httpx: 5 s) or a load balancer (AWS: 60 s) closes its idle connections first; a
    server that closes at the same moment races the request being sent on one (a reset)."""
    with socket.create_connection(("127.0.0.1", serve.port), timeout=30) as sock:
        assert _healthz_on(sock) == b"HTTP/1.1 200 OK"
        time.sleep(6)  # past uvicorn's default keep-alive of 5 s
        assert _healthz_on(sock) == b"HTTP/1.1 200 OK", "the server closed an idle connection after 5 s"
