"""Request ids and one log line per request, as JSON objects or plain text.

Each request gets an id (the caller's ``X-Request-ID`` when it is a plain token, else a new
one), returned in the response and attached to every log record written while it is served.
The access line carries the route *template* (``/fhir/{type}/{id}``), never the raw path,
query, headers or body: ids, tokens and search values stay out of the log.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("carespace.access")
request_id_var: ContextVar[str | None] = ContextVar("carespace_request_id", default=None)

HEADER = "x-request-id"
_VALID_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# Fields of the access line, in the order the plain format prints them.
QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})


def route_template(scope: Scope) -> str:
    """The matched route's whole path template (``/fhir/{resource_type}/{resource_id}``).

    FastAPI 0.16x keeps included routers nested, so ``scope["route"]`` knows only its own
    part; the whole template is on the route context FastAPI records (its telemetry uses the
    same). Older FastAPI copies routes with their prefix, and mounts are plain Starlette."""
    context = (scope.get("fastapi") or {}).get("effective_route_context")
    path = getattr(context, "path_format", None) or getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else "unmatched"


def caller_of(scope: Scope) -> tuple[str, str | None]:
    """Who asked: a bearer token's caller (set by the FHIR door), a portal account, or nobody."""
    state = scope.get("state") or {}
    caller = state.get("caller")
    if caller is not None:
        return str(caller.kind), caller.client_id
    account = state.get("account")
    if account is not None:
        return f"portal-{account.kind}", None
    return "anonymous", None


class RequestLog:
    """Pure ASGI middleware (no task switch, so the request id reaches every log record)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(HEADER.encode(), b"").decode("latin-1")
        request_id = given if _VALID_ID.fullmatch(given) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != HEADER.encode()]
                message = {**message, "headers": [*headers, (HEADER.encode(), request_id.encode())]}
            await send(message)

        failed = False
        try:
            await self.app(scope, receive, send_with_id)
        except BaseException:
            # The error handler outside this middleware logs the traceback and sends the 500:
            # it keeps the request id (this request's task context ends with it anyway).
            failed = True
            raise
        finally:
            caller, client_id = caller_of(scope)
            fields = {"method": scope["method"], "route": route_template(scope), "status": status,
                      "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                      "caller": caller, "client_id": client_id}
            # Probes polled every few seconds would drown the log: they go at DEBUG.
            level = logging.DEBUG if fields["route"] in QUIET_ROUTES and status < 400 else logging.INFO
            access_log.log(level, "%s %s %s %.1fms %s%s", fields["method"], fields["route"], status,
                           fields["duration_ms"], caller, f" client={client_id}" if client_id else "",
                           extra={"access": fields})
            if not failed:
                request_id_var.reset(token)


def with_request_id(response: Response) -> Response:
    """Put the current request id on a response sent outside ``RequestLog`` (the 500 handler)."""
    request_id = request_id_var.get()
    if request_id:
        response.headers[HEADER] = request_id
    return response


class RequestIdFilter(logging.Filter):
    """Every record gets ``request_id`` (``-`` outside a request), for both formats."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, request id, message, access fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
            "message": record.getMessage(),
        }
        access = getattr(record, "access", None)
        if isinstance(access, dict):
            entry.update(access)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def configure(log_format: str, level: int = logging.INFO) -> None:
    """Send every log record to stderr in ``json`` or ``text`` (``auto``: text on a terminal)."""
    if log_format == "auto":
        log_format = "text" if sys.stderr.isatty() else "json"
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(PLAIN_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # uvicorn's own loggers go through the same handler; its access line is replaced by ours.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
