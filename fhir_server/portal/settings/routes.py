"""``/settings``: the account's settings page: two-step sign-in, and which notices come by email."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from fhir_server.notices import audience
from fhir_server.notices.kinds import KINDS
from fhir_server.portal import csrf
from fhir_server.portal.routes_auth import redirect
from fhir_server.portal.sessions import SignedIn, services_of
from fhir_server.portal.settings.page import settings_page

router = APIRouter()
NOTICES = {"two-step-off": "Two-step sign-in is off. You sign in with your email, password and date of birth.",
           "emails-saved": "Your email choices are saved."}


@router.get("/settings")
async def settings(request: Request, account: SignedIn, notice: str = "") -> Response:
    return await settings_page(request, account, notice=NOTICES.get(notice))


@router.post("/settings/notices", dependencies=[Depends(csrf.verify)])
async def save_notices(request: Request, account: SignedIn) -> Response:
    form = await request.form()
    chosen = {str(v) for v in form.getlist("kind")}
    await audience.set_preferences(services_of(request).db, account.id, {k.key: k.key in chosen for k in KINDS})
    return redirect("/settings?notice=emails-saved")
