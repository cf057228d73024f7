"""The settings page as one render function, for its GET and for the forms that answer in place."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response

from fhir_server.notices import audience
from fhir_server.notices.kinds import KINDS
from fhir_server.portal import enrolment
from fhir_server.portal.accounts import Account
from fhir_server.portal.pages import render
from fhir_server.portal.sessions import services_of


async def settings_page(request: Request, account: Account, *, status: int = 200, **context: Any) -> Response:
    doc = await enrolment.state(services_of(request).db, account.id)
    enrolled = doc.get("two_step") or {}
    since = enrolled.get("enabled")
    wants = doc.get(audience.PREFERENCES) or {}
    return render(request, "settings/index.html", status=status, title="Settings",
                  enrolled=bool(enrolled.get("secret")), since=f"{since:%b} {since.day}, {since.year}" if since else "",
                  recovery_left=len(enrolled.get("recovery") or []),
                  notice_kinds=[(k, wants.get(k.key, True)) for k in KINDS], **context)
