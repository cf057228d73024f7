"""``/metrics``: requests by route template (never a raw path), database command latency,
sign-in failures, mail, sessions and export jobs; only for this machine or a bearer token."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fhir_server.embedded_db import free_port
from tests.conftest import RunningServer
from tests.mailbox import Mailbox
from tests.support.serve import Serve

JANE = {"email": "jane.doe@example.org", "password": "Jane-Demo-2026!", "birth_date": "1968-04-12"}
REMOTE = {"X-Forwarded-For": "203.0.113.7"}  # a client behind a reverse proxy on this machine


def scrape(url: str, **headers: str) -> dict[tuple[str, frozenset], float]:
    response = httpx.get(f"{url}/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def delta(after: dict, before: dict, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def test_requests_are_counted_by_route_template(server: RunningServer, admin: httpx.Client) -> None:
    route = {"route": "/fhir/{resource_type}/{resource_id}", "method": "GET"}
    before = scrape(server.url)
    assert admin.get("/Patient/jane-doe").status_code == 200
    assert admin.get("/Patient/robert-chen").status_code == 200
    assert admin.get("/Patient/no-such-patient").status_code == 404
    after = scrape(server.url)
    assert delta(after, before, "carespace_http_requests_total", **route, status="200") == 2
    assert delta(after, before, "carespace_http_requests_total", **route, status="404") == 1
    assert value(after, "carespace_http_request_duration_seconds_count", **route) >= 3
    assert value(after, "carespace_db_command_duration_seconds_count", command="find", outcome="ok") > \
        value(before, "carespace_db_command_duration_seconds_count", command="find", outcome="ok")
    text = httpx.get(f"{server.url}/metrics").text
    assert "jane-doe" not in text and "robert-chen" not in text and "no-such-patient" not in text


def test_sign_in_failures_sessions_mail_and_exports(server: RunningServer, admin: httpx.Client,
                                                     smtp: Mailbox) -> None:
    before = scrape(server.url)
    with httpx.Client(base_url=server.url, timeout=30) as browser:
        browser.get("/login")
        csrf = browser.cookies.get("carespace_csrf")
        wrong = browser.post("/login", data={"email": f"nobody-{uuid.uuid4().hex[:6]}@example.net",
                                             "password": "Wrong-Pass-1!", "birth_date": "1990-01-01",
                                             "csrf_token": csrf})
        assert wrong.status_code == 400
        assert browser.post("/login", data={**JANE, "csrf_token": csrf}).status_code == 303
    patient = admin.post("/Patient", json={"resourceType": "Patient", "birthDate": "1971-05-06",
                                           "name": [{"family": "Metrics"}]}).json()["id"]
    email = f"metrics-{uuid.uuid4().hex[:8]}@example.net"
    invited = admin.post(f"/Patient/{patient}/$invite", json={
        "resourceType": "Parameters", "parameter": [{"name": "email", "valueString": email}]})
    assert invited.status_code == 200, invited.text
    smtp.wait_for(email, "")
    kick = admin.get("/$export", params={"_type": "Organization"},
                     headers={"Prefer": "respond-async", "Accept": "application/fhir+json"})
    assert kick.status_code == 202
    deadline = time.monotonic() + 60
    while admin.get(kick.headers["Content-Location"]).status_code == 202 and time.monotonic() < deadline:
        time.sleep(0.2)
    deadline = time.monotonic() + 10  # the delivery is counted just after the relay accepts it
    while not delta(after := scrape(server.url), before, "carespace_mail_total", outcome="sent") and \
            time.monotonic() < deadline:
        time.sleep(0.1)
    assert delta(after, before, "carespace_signin_failures_total") == 1
    assert delta(after, before, "carespace_mail_total", outcome="sent") == 1
    assert value(after, "carespace_portal_sessions_open") >= 1
    assert value(after, "carespace_export_jobs", state="completed") >= 1
    assert ("carespace_signin_lockouts_total", frozenset()) in after


def test_other_machines_are_refused_without_a_metrics_token(server: RunningServer) -> None:
    response = httpx.get(f"{server.url}/metrics", headers=REMOTE)
    assert response.status_code == 403
    assert "CARESPACE_METRICS_TOKEN" in response.json()["error"] and "carespace_" not in response.text


@pytest.fixture
def with_token(tmp_path: Path) -> Iterator[Serve]:
    serve = Serve(tmp_path / "var", free_port(), environment={"CARESPACE_METRICS_TOKEN": "metrics-secret-2026",
                                                              "CARESPACE_LOG_FORMAT": "text"})
    yield serve
    serve.stop()


def test_other_machines_need_the_metrics_token(with_token: Serve) -> None:
    url = f"{with_token.url}/metrics"
    assert httpx.get(url, headers={**REMOTE, "X-Request-ID": "ops-text-401"}).status_code == 401
    wrong = httpx.get(url, headers={**REMOTE, "Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"].startswith("Bearer")
    samples = scrape(with_token.url, **REMOTE, Authorization="Bearer metrics-secret-2026")
    assert value(samples, "carespace_http_requests_total", route="/metrics", method="GET", status="401") == 2
    log = with_token.log_path.read_text()
    assert "metrics-secret-2026" not in log
    # This server logs plain text: the request id is on the access line there too.
    assert re.search(r"INFO carespace\.access \[ops-text-401\] GET /metrics 401 [\d.]+ms anonymous", log), log
