"""``/healthz``: the process answers; ``/readyz``: the database answers and takes a write."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fhir_server.embedded_db import free_port
from tests.conftest import RunningServer
from tests.support.serve import Serve, alive


def test_healthz_answers_without_authentication(server: RunningServer) -> None:
    response = httpx.get(f"{server.url}/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_pings_and_writes_the_database(server: RunningServer, db) -> None:  # type: ignore[no-untyped-def]
    before = db.server_state.find_one({"_id": "readyz"})
    response = httpx.get(f"{server.url}/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"startup": "ok", "database": "ok", "write": "ok"}}
    after = db.server_state.find_one({"_id": "readyz"})
    assert after is not None and (before is None or after["at"] > before["at"])


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    server = Serve(tmp_path / "var", free_port())
    yield server
    server.stop(signal.SIGKILL)


def test_readyz_says_not_ready_when_the_database_is_gone(serve: Serve) -> None:
    database, token = serve.database_pid(), serve.token()
    assert alive(database)
    # The database dies under a running server (a crash, an OOM kill).
    os.kill(database, signal.SIGKILL)
    started = time.monotonic()
    response = httpx.get(f"{serve.url}/readyz", timeout=10)
    assert time.monotonic() - started < 5, "readyz must answer within its short timeout"
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready" and body["reason"].startswith("database check failed")
    assert httpx.get(f"{serve.url}/healthz").status_code == 200  # the process itself still answers
    # A request that fails on the missing database: an OperationOutcome for the client, and a
    # log line with the request id and the route template, never the path with its id.
    failed = httpx.get(f"{serve.url}/fhir/Patient/id-from-the-path", timeout=30,
                       headers={"Authorization": f"Bearer {token}", "X-Request-ID": "ops-db-gone"})
    assert failed.status_code == 500 and failed.json()["resourceType"] == "OperationOutcome"
    assert failed.headers["X-Request-ID"] == "ops-db-gone"
    serve.stop()
    lines = [e for e in serve.log_entries() if e["request_id"] == "ops-db-gone"]
    assert any(e["message"] == "Unexpected error on GET /fhir/{resource_type}/{resource_id}" for e in lines), lines
    assert "id-from-the-path" not in serve.log_path.read_text()
