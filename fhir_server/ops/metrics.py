"""``GET /metrics`` in the Prometheus text format (prometheus-client).

Requests are counted by route *template*, method and status (never by raw path, whose ids
would make a series per patient); database commands are timed by a pymongo command listener.
Open portal sessions and export jobs by state are counted in the database at scrape time.

Answered to the machine itself; from anywhere else only with
``Authorization: Bearer <CARESPACE_METRICS_TOKEN>``, and never when that is unset. Behind a
reverse proxy the proxy must send ``X-Forwarded-For`` (uvicorn then sees the real client).
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from pymongo import ASCENDING, IndexModel, monitoring
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fhir_server.db import SESSIONS
from fhir_server.ops.logs import route_template

if TYPE_CHECKING:  # services -> group commit -> these metrics: a run-time import would be a cycle
    from fhir_server.services import Services

registry = CollectorRegistry()
ProcessCollector(registry=registry)

REQUESTS = Counter("carespace_http_requests", "HTTP requests answered, by route template, method and status.",
                   ["route", "method", "status"], registry=registry)
LATENCY = Histogram("carespace_http_request_duration_seconds", "Time to answer an HTTP request.",
                    ["route", "method"], registry=registry,
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
DB_COMMANDS = Histogram("carespace_db_command_duration_seconds", "Time of each database command, by name and outcome.",
                        ["command", "outcome"], registry=registry,
                        buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5))
SIGN_IN_FAILURES = Counter("carespace_signin_failures", "Portal sign-ins refused for wrong details.",
                           registry=registry)
LOCKOUTS = Counter("carespace_signin_lockouts", "Portal sign-ins locked after repeated failures.", registry=registry)
MAIL = Counter("carespace_mail", "Mail handed to SMTP, by outcome (sent, failed after its retries).",
               ["outcome"], registry=registry)
SESSIONS_OPEN = Gauge("carespace_portal_sessions_open", "Portal sessions before their absolute expiry.",
                      registry=registry)
# The group commit (the audit writer: one AuditEvent per request): documents waiting for the next
# batch, and how many each journaled insert_many carried -- by collection (AuditEvent).
GROUP_COMMIT_WAITING = Gauge("carespace_group_commit_queue_depth",
                             "Documents waiting for the group commit's next batch, by collection.",
                             ["collection"], registry=registry)
GROUP_COMMIT_BATCH = Histogram("carespace_group_commit_batch_size",
                               "Documents written by each group-commit insert_many, by collection.",
                               ["collection"], registry=registry,
                               buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000))
EXPORT_JOBS = Gauge("carespace_export_jobs", "Bulk export jobs kept (24 h), by state.", ["state"], registry=registry)

EXPORT_JOBS_COLLECTION = "export_jobs"
EXPORT_STATES = ("running", "completed", "failed", "cancelled")
METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


class CommandTimer(monitoring.CommandListener):
    def started(self, event: monitoring.CommandStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        DB_COMMANDS.labels(event.command_name, "ok").observe(event.duration_micros / 1e6)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        DB_COMMANDS.labels(event.command_name, "error").observe(event.duration_micros / 1e6)


_listening = False


def _listen_to_the_database() -> None:
    """Global pymongo listeners reach the clients made afterwards (the lifespan's); once per process."""
    global _listening
    if not _listening:
        monitoring.register(CommandTimer())
        _listening = True


class RequestMetrics:
    """Pure ASGI middleware: one count and one latency sample per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = route_template(scope)
            method = scope["method"] if scope["method"] in METHODS else "other"
            REQUESTS.labels(route, method, str(status)).inc()
            LATENCY.labels(route, method).observe(time.perf_counter() - started)


router = APIRouter(include_in_schema=False)


def _from_this_machine(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    services: Services = request.app.state.services
    if not _from_this_machine(request):
        token = services.settings.metrics_token
        if token is None:
            return JSONResponse({"error": "The metrics are served only to this machine (set "
                                 "CARESPACE_METRICS_TOKEN to scrape them from elsewhere)."}, status_code=403)
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                                 token.get_secret_value().encode()):
            return JSONResponse({"error": "The metrics need 'Authorization: Bearer <metrics token>'."},
                                status_code=401, headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    now = datetime.now(UTC)
    SESSIONS_OPEN.set(await services.db[SESSIONS].count_documents({"absolute_expiry": {"$gt": now}}))
    for state in EXPORT_STATES:
        EXPORT_JOBS.labels(state).set(await services.db[EXPORT_JOBS_COLLECTION].count_documents({"state": state}))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})


async def _ensure_indexes(services: Services) -> None:
    # The scrape counts export jobs by state: an index of its own keeps that an index scan.
    await services.db[EXPORT_JOBS_COLLECTION].create_indexes([IndexModel([("state", ASCENDING)])])


def install(app: FastAPI) -> None:
    _listen_to_the_database()
    app.include_router(router)
    app.add_middleware(RequestMetrics)
    app.state.startup_hooks.append(_ensure_indexes)
