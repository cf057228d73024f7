"""``create_app(settings)``: wires the three faces (FHIR API, SMART, portal) and the lifespan."""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from fhir_server import audit_refusals, portal, practice
from fhir_server.access import Refused
from fhir_server.config import Settings
from fhir_server.cors import ApiCors
from fhir_server.demo import load_demo_practice
from fhir_server.expiring import startup as expire_lapsed_locks
from fhir_server.ops import health, metrics, shutdown
from fhir_server.ops.logs import RequestLog, route_template, with_request_id
from fhir_server.ops.logs import configure as configure_logging
from fhir_server.resources import http as fhir_http
from fhir_server.resources.errors import FhirError
from fhir_server.resources.reindex import upgrade_compartments
from fhir_server.resources.routes import fhir_router
from fhir_server.resources.validation import resource_types
from fhir_server.services import build_services
from fhir_server.smart import install as smart

log = logging.getLogger("carespace")

# ``serve --workers N`` hands each worker process its settings (the resolved database address
# included) through this environment variable.
SETTINGS_ENV = "CARESPACE_SERVE_SETTINGS"


# FastAPI ≥ 0.16x asks OpenTelemetry on every request whether telemetry is configured (7 % of a
# read's CPU in the bench's profile); CareSpace configures none, so it is off.
_NO_TELEMETRY = ({"telemetry": {"tracing": False, "metrics": False, "logs": False}}
                 if "telemetry" in inspect.signature(FastAPI.__init__).parameters else {})


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/fhir")


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Every R4B model module, imported once before the first request (the CapabilityStatement
        # lists them all); a CLI import never needs them all.
        await asyncio.to_thread(resource_types)
        services = await build_services(settings)
        app.state.services = services
        await upgrade_compartments(services.store)
        # The audit trail's indexes before the first request: dropping an earlier version's
        # (a one-time cost that grows with the trail) would otherwise hold up every request.
        await services.store.collection("AuditEvent")
        if settings.demo:
            await load_demo_practice(services.store)
        for hook in app.state.startup_hooks:
            await hook(services)
        announce = getattr(app.state, "on_ready", None)
        if announce:
            announce()
        try:
            yield
        finally:
            await shutdown.flush_queued(settings)
            await services.db.close()

    app = FastAPI(title="CareSpace", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None, **_NO_TELEMETRY)
    # Start-up work that other rooms add (e.g. the portal's demo accounts), run after the demo data.
    app.state.startup_hooks = [expire_lapsed_locks]
    app.include_router(health.router)
    after_health = len(app.router.routes)
    metrics.install(app)
    smart.install(app)
    portal.install(app)
    practice.install(app)
    rooms_end = len(app.router.routes)
    app.include_router(fhir_router(*getattr(app.state, "fhir_routers", [])))
    # Starlette tries the routes in order: the API's go right after the health checks, so that a
    # FHIR request is not first matched against every page of the portal and the console
    # (measured: 0.2-0.3 ms, a tenth of a read's CPU). No other room has a path under /fhir.
    routes = app.router.routes
    routes[after_health:] = routes[rooms_end:] + routes[after_health:rooms_end]

    async def on_fhir_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, Refused):  # the one door said no: that leaves a trace too
            await audit_refusals.record(app.state.services, exc)
        if _is_api(request):
            return await fhir_http.handle_fhir_error(request, exc)
        assert isinstance(exc, FhirError)
        return await _page_error(request, exc.status, exc.diagnostics)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        if _is_api(request):
            return await fhir_http.handle_http_error(request, exc)
        assert isinstance(exc, StarletteHTTPException)
        return await _page_error(request, exc.status_code, str(exc.detail))

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        return await fhir_http.handle_validation_error(request, exc)

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        if _is_api(request):
            response = await fhir_http.handle_unexpected(request, exc)
        else:
            # The route template, not the path: a path can hold a secret (a Send Record link's id).
            log.exception("Unexpected error on %s %s", request.method, route_template(request.scope))
            response = await _page_error(request, 500,
                                         "Something went wrong on our side. Please try again in a moment.")
        return with_request_id(response)  # this 500 is sent from outside the RequestLog middleware

    async def _page_error(request: Request, status: int, message: str) -> Response:
        # The portal installs an HTML renderer (app.state.render_error_page); plain text otherwise.
        render = getattr(app.state, "render_error_page", None)
        prepare = getattr(app.state, "prepare_error_page", None)  # e.g. who is signed in, for the page's menus
        if prepare:
            await prepare(request)
        if render:
            response: Response = render(request, status, message)
            return response
        return Response(f"{status}: {message}", status_code=status, media_type="text/plain")

    app.add_exception_handler(FhirError, on_fhir_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(Exception, on_unexpected)
    app.add_middleware(ApiCors)
    app.add_middleware(RequestLog)  # outermost: the request id covers CORS answers too
    return app


def app_from_environment() -> FastAPI:
    """The app of one ``serve --workers`` process (uvicorn calls this factory in each worker)."""
    settings = Settings.model_validate_json(os.environ[SETTINGS_ENV])
    configure_logging(settings.log_format)  # each worker logs its requests as ``serve`` does
    return create_app(settings)
