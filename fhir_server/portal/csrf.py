"""Cross-site request forgery: every portal form carries a token that every POST must return.

The token is a random value kept in an ``HttpOnly`` ``SameSite=Lax`` cookie and repeated in
the form's hidden ``csrf_token`` field (the double-submit pattern); another site can neither
read the cookie nor guess the value, so it cannot forge the field. A POST without the field,
or with another value, is refused with a 403 page before anything else happens.
"""

from __future__ import annotations

import secrets

from fastapi import HTTPException, Request
from fastapi.responses import Response
from markupsafe import Markup

COOKIE = "carespace_csrf"
FIELD = "csrf_token"


def token(request: Request) -> str:
    """This browser's token (a new one, set on the response by ``attach``, if it has none)."""
    value = getattr(request.state, "csrf_new", None) or request.cookies.get(COOKIE)
    if not value or len(value) < 20:
        value = secrets.token_urlsafe(32)
        request.state.csrf_new = value
    return value


def field(request: Request) -> Markup:
    return Markup('<input type="hidden" name="{}" value="{}">').format(FIELD, token(request))


def attach(request: Request, response: Response, *, secure: bool) -> None:
    new = getattr(request.state, "csrf_new", None)
    if new:
        response.set_cookie(COOKIE, new, path="/", httponly=True, samesite="lax", secure=secure)


async def verify(request: Request) -> None:
    """Dependency of every portal POST."""
    expected = request.cookies.get(COOKIE)
    form = await request.form()
    sent = form.get(FIELD)
    # Compared as bytes: compare_digest refuses non-ASCII str (a 500 on a crafted token).
    if not expected or not isinstance(sent, str) or not secrets.compare_digest(sent.encode(), expected.encode()):
        raise HTTPException(403, "This form has expired or did not come from this site. "
                                 "Please go back, reload the page and try again.")
