"""The Resources tab (the practice's links) and ``/dev/outbox``, the demo's mail viewer.
The other tabs and menu pages live in their own rooms (health, messages, delegates, apps)."""

from __future__ import annotations

import re

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from markupsafe import Markup, escape

from fhir_server import mail
from fhir_server.portal.pages import render
from fhir_server.portal.sessions import SignedIn, services_of

router = APIRouter()

@router.get("/resources")
async def resources(request: Request, account: SignedIn) -> Response:
    links = services_of(request).settings.resource_links
    return render(request, "tabs/resources.html", active="resources", title="Resources", links=links)


_URL = re.compile(r"https?://[^\s<>\"]+")


def _linkify(text: str) -> Markup:
    """Text with its URLs as links; everything else escaped (the URLs too, by ``format``)."""
    out, last = Markup(""), 0
    for match in _URL.finditer(text):
        out += escape(text[last:match.start()]) + Markup('<a href="{0}">{0}</a>').format(match.group(0))
        last = match.end()
    return out + escape(text[last:])


@router.get("/dev/outbox")
async def outbox(request: Request) -> Response:
    """The mail that would have been sent: only in demo mode without SMTP."""
    settings = services_of(request).settings
    if not settings.demo or settings.smtp_url:
        raise HTTPException(404, "Not Found")
    cursor = services_of(request).db[mail.OUTBOX].find({}, sort=[("created", -1)], limit=50)
    messages = [{**m, "body": _linkify(m["text"])} async for m in cursor]
    return render(request, "dev/outbox.html", messages=messages)
