"""The CareSpace portal: server-rendered pages for patients and their delegates."""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from fhir_server.notices import claims as notice_claims
from fhir_server.notices import send as notice_hooks
from fhir_server.portal import (
    accounts,
    demo_accounts,
    links,
    operation_invite,
    routes_auth,
    routes_code,
    routes_tabs,
    second_step,
    sessions,
)
from fhir_server.portal import messages as messages_area
from fhir_server.portal.apps import routes as apps_routes
from fhir_server.portal.delegates import routes as delegates_routes
from fhir_server.portal.health import router as health_router
from fhir_server.portal.pages import STATIC, render_error_page
from fhir_server.portal.record import router as record_router
from fhir_server.portal.send_record import routes as send_record_routes
from fhir_server.portal.settings import routes as settings_routes
from fhir_server.portal.settings import two_step_routes
from fhir_server.services import Services
from fhir_server.shl import routes as shl_routes

log = logging.getLogger("carespace.portal")
_TOKEN = re.compile(r"([?&]token=)[^&\s\"]+")
_SHL_PATH = re.compile(r"(/shl/(?:manifest|file)/)[^/?#\s\"]+")


def _redact(value: str) -> str:
    return _SHL_PATH.sub(r"\1[redacted]", _TOKEN.sub(r"\1[redacted]", value))


class RedactTokens(logging.Filter):
    """Single-use link tokens (``?token=``) and the secrets in ``/shl/manifest/{id}`` and
    ``/shl/file/{token}`` paths never reach the access log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, str) for a in record.args):
            record.args = tuple(_redact(a) if isinstance(a, str) else a for a in record.args)
        return True


async def _signed_in_for_error_page(request: Request) -> None:
    """An error page keeps the navigation of the person signed in (a 404 runs no route, so
    nothing has loaded the account yet); it never fails because of that."""
    try:
        await sessions.current_account(request)
    except Exception:  # the error page must render whatever the session store says
        log.warning("could not load the session for an error page", exc_info=True)


async def _startup(services: Services) -> None:
    await accounts.ensure_indexes(services.db)
    await links.ensure_indexes(services.db)
    await sessions.ensure_indexes(services.db)
    await second_step.ensure_indexes(services.db)
    await notice_claims.ensure_indexes(services.db)
    if services.settings.demo:
        await demo_accounts.create_demo_accounts(services)


def install(app: FastAPI) -> None:
    """Add the portal's routes, error pages and start-up work to the app."""
    app.include_router(routes_auth.router)
    app.include_router(routes_code.router)
    app.include_router(routes_tabs.router)
    messages_area.install(app)
    notice_hooks.register()
    app.include_router(health_router)
    app.include_router(record_router)
    app.include_router(settings_routes.router)
    app.include_router(two_step_routes.router)
    app.include_router(delegates_routes.router)
    app.include_router(send_record_routes.router)
    app.include_router(apps_routes.router)
    app.include_router(shl_routes.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.state.render_error_page = render_error_page
    app.state.prepare_error_page = _signed_in_for_error_page
    app.state.startup_hooks.append(_startup)
    app.state.fhir_routers = [*getattr(app.state, "fhir_routers", []), operation_invite.router]

    async def login_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, sessions.LoginRequired)
        return RedirectResponse(sessions.login_url(exc.next_url), status_code=303)

    app.add_exception_handler(sessions.LoginRequired, login_required)
    access_log = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactTokens) for f in access_log.filters):
        access_log.addFilter(RedactTokens())
