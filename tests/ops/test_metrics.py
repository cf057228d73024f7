"""``/metrics``: requests by route template (never a raw path), database command latency,
sign-in failures and lockouts, mail sent and failed, sessions, export jobs, the audit writer's
queue and batches; only for this machine or a bearer token."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pymongo import AsyncMongoClient

from fhir_server.embedded_db import free_port
from fhir_server.group_commit import GroupCommit
from fhir_server.ops.metrics import registry
from fhir_server.portal.lockout import MAX_FAILURES
from tests.conftest import RunningServer
from tests.mailbox import Mailbox
from tests.support.serve import Serve
from tests.test_mail import deliver_once
from tests.threaded import run_coroutine

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


def test_lockouts_and_undelivered_mail_are_counted(server: RunningServer) -> None:
    before = scrape(server.url)
    email = f"lockout-{uuid.uuid4().hex[:8]}@example.net"
    with httpx.Client(base_url=server.url, timeout=30) as browser:
        browser.get("/login")
        csrf = browser.cookies.get("carespace_csrf")
        statuses = [browser.post("/login", data={"email": email, "password": "Wrong-Pass-1!",
                                                 "birth_date": "1990-01-01", "csrf_token": csrf}).status_code
                    for _ in range(MAX_FAILURES + 1)]
    assert statuses[-1] == 429, statuses
    # A message the relay never takes (nothing listens there), after its retries.
    assert deliver_once(f"smtp://127.0.0.1:{free_port()}") is False
    after = scrape(server.url)
    assert delta(after, before, "carespace_signin_lockouts_total") == 1
    assert delta(after, before, "carespace_signin_failures_total") == MAX_FAILURES
    assert delta(after, before, "carespace_mail_total", outcome="failed") == 1


def test_audit_writer_batches_and_queue_depth(server: RunningServer, admin: httpx.Client, mongo_uri: str) -> None:
    audit = {"collection": "AuditEvent"}
    before = scrape(server.url)
    assert admin.get("/Patient/jane-doe").status_code == 200  # audited: one AuditEvent through the group commit
    after = scrape(server.url)
    assert delta(after, before, "carespace_group_commit_batch_size_count", **audit) >= 1
    assert delta(after, before, "carespace_group_commit_batch_size_sum", **audit) >= 1
    assert ("carespace_group_commit_queue_depth", frozenset(audit.items())) in after

    # 60 concurrent inserts, at most 10 a batch: documents wait while a batch is written.
    docs = [{"_id": str(uuid.uuid4()), "n": i} for i in range(60)]
    before = scrape(server.url)
    depths = queue_depths(mongo_uri, docs)
    after = scrape(server.url)
    assert max(depths) >= 10 and depths[-1] == 0, depths
    assert delta(after, before, "carespace_group_commit_batch_size_sum", collection="metrics_events") == 60
    assert delta(after, before, "carespace_group_commit_batch_size_count", collection="metrics_events") >= 6
    assert value(after, "carespace_group_commit_queue_depth", collection="metrics_events") == 0


def queue_depths(mongo_uri: str, docs: list[dict]) -> list[float]:
    """Insert ``docs`` concurrently through a GroupCommit; the queue depth gauge seen meanwhile."""

    async def main() -> list[float]:
        client: AsyncMongoClient = AsyncMongoClient(mongo_uri, w="majority", journal=True, retryWrites=False)
        database = client["carespace_group_commit"]

        async def collection_of(name: str):  # type: ignore[no-untyped-def]
            return database[name]

        writer, depths = GroupCommit(collection_of, max_batch=10), []

        def gauge() -> float:
            sample = registry.get_sample_value("carespace_group_commit_queue_depth", {"collection": "metrics_events"})
            return sample or 0.0

        async def watch() -> None:
            while True:
                depths.append(gauge())
                await asyncio.sleep(0)

        watcher = asyncio.create_task(watch())
        try:
            await asyncio.gather(*(writer.insert("metrics_events", d) for d in docs))
        finally:
            watcher.cancel()
            await database.drop_collection("metrics_events")
            await client.close()
        return [*depths, gauge()]

    return run_coroutine(main())
