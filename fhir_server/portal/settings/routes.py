"""``/settings``: the account's settings page (two-step sign-in; notices by email)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from fhir_server.portal.sessions import SignedIn
from fhir_server.portal.settings.page import settings_page

router = APIRouter()
NOTICES = {"two-step-off": "Two-step sign-in is off. You sign in with your email, password and date of birth."}


@router.get("/settings")
async def settings(request: Request, account: SignedIn, notice: str = "") -> Response:
    return await settings_page(request, account, notice=NOTICES.get(notice))
