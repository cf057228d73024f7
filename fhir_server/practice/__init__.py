"""The practice console (``/practice``): where the care team answers patients' messages, looks
patients up, invites them and shares documents. Its own room beside the portal, built from the
portal's pieces (sessions, CSRF, lockout, passwords, links, views) and the same one door."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from fhir_server.services import Services


async def _startup(services: Services) -> None:
    from fhir_server.practice import staff

    await staff.ensure_indexes(services.db)


def install(app: FastAPI) -> None:
    from urllib.parse import quote

    from fhir_server.practice import routes_admin, routes_auth, routes_inbox, routes_patients, session
    from fhir_server.practice.pages import STATIC

    app.include_router(routes_auth.router)
    app.include_router(routes_inbox.router)
    app.include_router(routes_patients.router)
    app.include_router(routes_admin.router)
    app.mount("/practice/static", StaticFiles(directory=STATIC), name="practice-static")
    app.state.startup_hooks.append(_startup)

    async def login_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, session.StaffLoginRequired)
        return RedirectResponse("/practice/login?next=" + quote(exc.next_url, safe="/"), status_code=303)

    app.add_exception_handler(session.StaffLoginRequired, login_required)
