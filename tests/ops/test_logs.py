"""One JSON line per request with its request id, route template and caller, and nothing of
the patient: no name, birth date, password or token, whatever the request carried."""

from __future__ import annotations

import json
import re
import time
import uuid

import httpx

from tests.conftest import RunningServer
from tests.ops.conftest import SessionLog
from tests.ops.leaks import find_leaks

JANE = {"email": "jane.doe@example.org", "password": "Jane-Demo-2026!", "birth_date": "1968-04-12"}


def _lines(log: SessionLog, request_id: str, *, at_least: int = 1) -> list[dict]:
    """The request's log lines; the access line is written just after the response is sent."""
    deadline = time.monotonic() + 5
    while True:
        lines = [e for e in map(json.loads, log.text().splitlines()) if e.get("request_id") == request_id]
        if len([e for e in lines if e["logger"] == "carespace.access"]) >= at_least or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def test_request_id_is_taken_returned_and_on_the_access_line(server: RunningServer, session_log: SessionLog) -> None:
    request_id = f"ops-{uuid.uuid4().hex}"
    token = server.token("system/Patient.rs")
    response = httpx.get(f"{server.fhir}/Patient/jane-doe", headers={"X-Request-ID": request_id,
                                                                     "Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.json()["id"] == "jane-doe"
    assert response.headers["X-Request-ID"] == request_id
    [access] = [e for e in _lines(session_log, request_id) if e["logger"] == "carespace.access"]
    assert access["route"] == "/fhir/{resource_type}/{resource_id}"
    assert (access["method"], access["status"]) == ("GET", 200)
    assert (access["caller"], access["client_id"]) == ("system", "tests")
    assert access["level"] == "info" and access["duration_ms"] > 0 and access["time"].endswith("+00:00")
    assert "jane-doe" not in json.dumps(access)


def test_a_request_id_that_is_not_a_plain_token_is_replaced(server: RunningServer) -> None:
    for given in (b"two words", b"x" * 200, "caf\u00e9\u2028".encode(), b"a\"}{\"level\":\"x"):
        response = httpx.get(f"{server.url}/healthz", headers={"X-Request-ID": given})
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"]), given
    first, second = (httpx.get(f"{server.url}/healthz").headers["X-Request-ID"] for _ in range(2))
    assert first != second


def test_a_portal_session_leaves_no_patient_data_in_the_log(server: RunningServer, session_log: SessionLog) -> None:
    """Sign in as Jane with her password and birth date, read her pages, search the API by her
    name and birth date, send bad input with her name in it: the log names none of it."""
    request_id = f"ops-session-{uuid.uuid4().hex[:8]}"
    headers = {"X-Request-ID": request_id}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as browser:
        csrf = browser.get("/login").cookies.get("carespace_csrf") or browser.cookies.get("carespace_csrf")
        assert csrf
        wrong = browser.post("/login", data={"email": "nobody@example.net", "password": JANE["password"],
                                             "birth_date": JANE["birth_date"], "csrf_token": csrf})
        assert wrong.status_code in (200, 400, 401) and "Jane" not in wrong.text
        signed_in = browser.post("/login", data={**JANE, "csrf_token": csrf})
        assert signed_in.status_code == 303, signed_in.text
        health = browser.get("/health")
        assert health.status_code == 200 and "Jane" in health.text  # the page shows her; the log must not
        assert browser.get("/messages").status_code == 200
    token = server.token("system/*.rs")
    with httpx.Client(base_url=server.fhir, timeout=30,
                      headers={**headers, "Authorization": f"Bearer {token}"}) as api:
        found = api.get("/Patient", params={"name": "Doe", "given": "Jane", "birthdate": JANE["birth_date"]})
        assert found.status_code == 200 and found.json()["total"] >= 1
        bad = api.post("/Patient", headers={"Content-Type": "application/fhir+json"},
                       json={"resourceType": "Patient", "name": [{"family": "Doe", "given": ["Jane"]}],
                             "birthDate": "1968-04-31"})
        assert bad.status_code == 422 and bad.json()["resourceType"] == "OperationOutcome"
    refused = httpx.get(f"{server.fhir}/Patient", params={"name": "Chen"},
                        headers={**headers, "Authorization": f"Bearer {token}x"})
    assert refused.status_code == 401
    lines = _lines(session_log, request_id, at_least=10)
    routes = {(e.get("method"), e.get("route"), e.get("status")) for e in lines if e["logger"] == "carespace.access"}
    assert ("POST", "/login", 303) in routes and ("GET", "/health", 200) in routes
    assert ("GET", "/fhir/{resource_type}", 200) in routes and ("GET", "/fhir/{resource_type}", 401) in routes
    assert any(e.get("caller") == "portal-patient" for e in lines)
    assert find_leaks("\n".join(map(json.dumps, lines))) == []
