"""The Resources tab (the practice's links) and ``/dev/outbox``, the demo's mail viewer.
The other tabs and menu pages live in their own rooms (health, messages, delegates, apps)."""

from __future__ import annotations

import hashlib
import hmac
import re

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from markupsafe import Markup, escape

from fhir_server import mail
from fhir_server.portal.pages import render
from fhir_server.portal.routes_auth import redirect
from fhir_server.portal.sessions import SignedIn, services_of, set_cookie

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


OUTBOX_COOKIE = "carespace_outbox"
OUTBOX_PATH = "/dev/outbox"
NO_OUTBOX_KEY = ("The outbox needs the link that `carespace serve --demo` printed when it started "
                 "(…/dev/outbox?token=…). Open that link.")


def _outbox_pass(token: str) -> str:
    """What the outbox cookie holds: derived from the secret, never the secret itself."""
    return hashlib.sha256(f"carespace-outbox:{token}".encode()).hexdigest()


@router.get(OUTBOX_PATH)
async def outbox(request: Request, token: str | None = None) -> Response:
    """The mail that would have been sent: only in demo mode without SMTP, and only for whoever
    holds the secret ``serve --demo`` printed (as Jupyter's token link). The link's token is swapped
    for a cookie at once, so it stays out of the address bar, the history and Referer headers."""
    settings = services_of(request).settings
    if not settings.demo or settings.smtp_url:
        raise HTTPException(404, "Not Found")
    expected = _outbox_pass(settings.outbox_token)
    if token is not None:
        if not hmac.compare_digest(_outbox_pass(token), expected):
            raise HTTPException(403, NO_OUTBOX_KEY)
        response = redirect(OUTBOX_PATH)
        set_cookie(response, OUTBOX_COOKIE, expected, secure=settings.secure_cookies, path=OUTBOX_PATH)
        return response
    if not hmac.compare_digest(request.cookies.get(OUTBOX_COOKIE, "").encode(), expected.encode()):
        raise HTTPException(403, NO_OUTBOX_KEY)
    cursor = services_of(request).db[mail.OUTBOX].find({}, sort=[("created", -1)], limit=50)
    messages = [{**m, "body": _linkify(m["text"])} async for m in cursor]
    response = render(request, "dev/outbox.html", messages=messages)
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response
