"""The Apps page (``/apps``): open a registered app with the record in view (SMART EHR launch),
see the apps connected to it, and disconnect them.

"Open" creates a launch context bound to the patient in view and the signed-in account (the
same ``create_launch`` that ``POST /auth/launch`` uses) and sends the browser to the app's
launch URL with ``iss`` and ``launch``; the app then redeems ``launch`` at /auth/authorize.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from fhir_server import audit
from fhir_server.portal import csrf
from fhir_server.portal.apps import connected
from fhir_server.portal.pages import render
from fhir_server.portal.sessions import services_of
from fhir_server.portal.viewing import Viewing, ViewingDep
from fhir_server.smart.clients import Client, get_client, launchable_clients
from fhir_server.smart.launch import create_launch

router = APIRouter()
Csrf = Depends(csrf.verify)
NOT_CONNECTED = "That app is not connected to this record any more. Nothing was changed."
NOT_OPENABLE = "That app cannot be opened from the portal. It may have been removed by the practice."


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


def launch_address(client: Client, iss: str, launch: str) -> str:
    """The app's launch URL with ``iss`` and ``launch`` added (SMART App Launch, EHR launch)."""
    assert client.launch_url
    joiner = "&" if "?" in client.launch_url else "?"
    return f"{client.launch_url}{joiner}{urlencode({'iss': iss, 'launch': launch})}"


async def _page(request: Request, view: Viewing, *, status: int = 200, notice: str | None = None,
                problem: str | None = None) -> Response:
    services = services_of(request)
    openable = await launchable_clients(services.db)
    apps = await connected.connected_apps(services, view.account.id, view.patient_id)
    return render(request, "apps/index.html", status=status, active="apps", title="Apps", view=view,
                  openable=openable, connected=apps, notice=notice, problem=problem)


@router.get("/apps")
async def apps(request: Request, view: ViewingDep, done: str | None = None, app: str | None = None) -> Response:
    notice = None
    if done == "disconnected" and app:
        client = await get_client(services_of(request).db, app)
        notice = f"{client.name if client else 'The app'} is disconnected. It can no longer see this record."
    return await _page(request, view, notice=notice)


@router.post("/apps/{client_id}/open", dependencies=[Csrf])
async def open_app(request: Request, view: ViewingDep, client_id: str) -> Response:
    services = services_of(request)
    client = await get_client(services.db, client_id)
    if client is None or not client.launch_url or client.kind == "backend":
        return await _page(request, view, status=404, problem=NOT_OPENABLE)
    launch = await create_launch(services, view.patient_id, f"account:{view.account.id}")
    await audit.record(services.store, view.caller, "portal", patients=[view.patient_id],
                       entities=[f"Patient/{view.patient_id}"],
                       description=f"Opened the app {client.name} with this record (SMART launch)")
    return _redirect(launch_address(client, services.settings.fhir_base, launch))


@router.get("/apps/connected/{client_id}/disconnect")
async def disconnect_page(request: Request, view: ViewingDep, client_id: str) -> Response:
    app = await connected.find(services_of(request), view.account.id, view.patient_id, client_id)
    if app is None:
        return await _page(request, view, status=404, problem=NOT_CONNECTED)
    return render(request, "apps/disconnect.html", active="apps", title=f"Disconnect {app.name}", app=app,
                  view=view)


@router.post("/apps/connected/{client_id}/disconnect", dependencies=[Csrf])
async def disconnect(request: Request, view: ViewingDep, client_id: str) -> Response:
    services = services_of(request)
    app = await connected.disconnect(services, view.account.id, view.patient_id, client_id)
    if app is None:
        return await _page(request, view, status=404, problem=NOT_CONNECTED)
    await audit.record(services.store, view.caller, "portal", patients=[view.patient_id],
                       entities=[f"Patient/{view.patient_id}"],
                       description=f"Disconnected the app {app.name}: its access to this record was revoked")
    return _redirect(f"/apps?{urlencode({'done': 'disconnected', 'app': client_id})}")
