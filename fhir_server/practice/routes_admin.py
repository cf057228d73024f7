"""Staff and Apps: the practice administrator's pages. Staff: the accounts (what ``carespace
staff list`` shows), add one (with its invite), resend an invite, remove one (its sessions end at
once). Apps: the registered SMART apps (what ``carespace clients list`` shows) for every staff
member; registering and removing them for administrators."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from fhir_server.access import STAFF_ROLES, check_staff_action
from fhir_server.portal import csrf
from fhir_server.portal.sessions import services_of
from fhir_server.practice import accounts, staff
from fhir_server.practice.pages import redirect, render
from fhir_server.practice.session import Console, ConsoleDep
from fhir_server.practice.staff import StaffError
from fhir_server.smart.clients import ClientError, list_clients, register_client, remove_client

log = logging.getLogger("carespace.practice")
router = APIRouter()
Csrf = Depends(csrf.verify)
NOTICES = {"added": "The staff member was added and their invite sent (it works once, for 4 days).",
           "resent": "A new invite was sent; the earlier link no longer works.",
           "removed": "The staff account was removed; its sessions have ended.",
           "app-removed": "The app was removed. Its tokens stop working at their next use."}
APP_KINDS = {"public": "Patient app (public, PKCE)", "confidential": "Web app with a secret (confidential)"}


async def _staff_page(request: Request, console: Console, *, status: int = 200, notice: str | None = None,
                      error: str | None = None, form: dict[str, str] | None = None) -> Response:
    check_staff_action(console.caller, "staff")
    members = await staff.list_all(services_of(request).db)
    return render(request, "staff.html", status=status, active="staff", title="Staff", members=members,
                  roles=STAFF_ROLES, notice=notice, error=error, form=form or {})


@router.get("/practice/staff")
async def staff_page(request: Request, console: ConsoleDep, notice: str | None = None) -> Response:
    return await _staff_page(request, console, notice=NOTICES.get(notice or ""))


@router.post("/practice/staff", dependencies=[Csrf])
async def add(request: Request, console: ConsoleDep, email: Annotated[str, Form()] = "",
              name: Annotated[str, Form()] = "", role: Annotated[str, Form()] = "") -> Response:
    check_staff_action(console.caller, "staff")
    try:
        await accounts.add_staff(services_of(request), email=email, name=name, role=role)
    except StaffError as exc:
        return await _staff_page(request, console, status=400, error=str(exc),
                                 form={"email": email, "name": name, "role": role})
    log.info("staff account added from the console")
    return redirect("/practice/staff?notice=added")


@router.post("/practice/staff/{staff_id}/invite", dependencies=[Csrf])
async def resend(request: Request, console: ConsoleDep, staff_id: str) -> Response:
    check_staff_action(console.caller, "staff")
    services = services_of(request)
    member = await staff.get(services.db, staff_id)
    if member is None:
        return await _staff_page(request, console, status=404, error="That staff account no longer exists.")
    try:
        await accounts.send_invite(services, member)
    except StaffError as exc:
        return await _staff_page(request, console, status=409, error=str(exc))
    return redirect("/practice/staff?notice=resent")


@router.post("/practice/staff/{staff_id}/remove", dependencies=[Csrf])
async def remove(request: Request, console: ConsoleDep, staff_id: str) -> Response:
    check_staff_action(console.caller, "staff")
    services = services_of(request)
    if staff_id == console.staff.id:
        return await _staff_page(request, console, status=409,
                                 error="You cannot remove your own account; ask another administrator.")
    member = await staff.get(services.db, staff_id)
    if member is None or await accounts.remove_staff(services, member.email) is None:
        return await _staff_page(request, console, status=404, error="That staff account no longer exists.")
    log.info("staff account removed from the console")
    return redirect("/practice/staff?notice=removed")


# -- apps ---------------------------------------------------------------------------------------

async def _apps_page(request: Request, console: Console, *, status: int = 200, notice: str | None = None,
                     error: str | None = None, form: dict[str, str] | None = None,
                     created: dict[str, str] | None = None) -> Response:
    check_staff_action(console.caller, "apps-list")
    clients = await list_clients(services_of(request).db)
    return render(request, "apps.html", status=status, active="apps", title="Apps", clients=clients,
                  kinds=APP_KINDS, notice=notice, error=error, form=form or {}, created=created)


@router.get("/practice/apps")
async def apps_page(request: Request, console: ConsoleDep, notice: str | None = None) -> Response:
    return await _apps_page(request, console, notice=NOTICES.get(notice or ""))


@router.post("/practice/apps", dependencies=[Csrf])
async def add_app(request: Request, console: ConsoleDep, name: Annotated[str, Form()] = "",
                  kind: Annotated[str, Form()] = "", redirect_uris: Annotated[str, Form()] = "",
                  launch_url: Annotated[str, Form()] = "", description: Annotated[str, Form()] = "") -> Response:
    check_staff_action(console.caller, "apps")
    form = {"name": name, "kind": kind, "redirect_uris": redirect_uris, "launch_url": launch_url,
            "description": description}
    if not name.strip() or kind not in APP_KINDS:
        return await _apps_page(request, console, status=400, form=form,
                                error="Give the app a name and choose what kind of app it is.")
    try:
        client, secret = await register_client(services_of(request).db, name=name.strip(), kind=kind,
                                               redirect_uris=redirect_uris.split(),
                                               launch_url=launch_url.strip() or None,
                                               description=description.strip() or None)
    except ClientError as exc:
        return await _apps_page(request, console, status=400, form=form, error=str(exc))
    log.info("SMART app registered from the console")
    created = {"name": client.name, "client_id": client.client_id, **({"client_secret": secret} if secret else {})}
    return await _apps_page(request, console, created=created)


@router.post("/practice/apps/{client_id}/remove", dependencies=[Csrf])
async def remove_app(request: Request, console: ConsoleDep, client_id: str) -> Response:
    check_staff_action(console.caller, "apps")
    if not await remove_client(services_of(request).db, client_id):
        return await _apps_page(request, console, status=404, error="That app is not registered (any more).")
    return redirect("/practice/apps?notice=app-removed")
