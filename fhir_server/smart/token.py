"""The token endpoint (RFC 6749 §3.2): authenticates the client, then one module per grant."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from fhir_server.portal import lockout
from fhir_server.services import Services
from fhir_server.smart import client_auth, grant_authorization_code, grant_client_credentials, grant_refresh_token
from fhir_server.smart.clients import Client
from fhir_server.smart.errors import (
    NO_STORE,
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    TooManyAttempts,
    UnauthorizedClient,
    UnsupportedGrantType,
)

Grant = Callable[[Services, Client, dict[str, str]], Awaitable[dict[str, Any]]]
GRANTS: dict[str, Grant] = {
    "authorization_code": grant_authorization_code.grant,
    "refresh_token": grant_refresh_token.grant,
    "client_credentials": grant_client_credentials.grant,
}

router = APIRouter()
MAX_FAILURES = 20  # per client (or address) within WINDOW; generous for apps, useless for guessing
WINDOW = timedelta(minutes=5)


async def read_form(request: Request) -> dict[str, str]:
    """RFC 6749 §3.2: "application/x-www-form-urlencoded"; a repeated parameter is refused (§3.1)."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise InvalidRequest("The request body must be application/x-www-form-urlencoded.")
    form = await request.form()
    values: dict[str, str] = {}
    for name, value in form.multi_items():
        if name in values:
            raise InvalidRequest(f"The parameter '{name}' is repeated.")
        values[name] = str(value)
    return values


def _attempt_key(request: Request, form: dict[str, str]) -> str:
    """Failures count per client id and address: a public client id is no secret, so counting
    per client alone would let anyone lock every user of a public app out."""
    client_id = form.get("client_id")
    if not client_id and request.headers.get("authorization", "").lower().startswith("basic "):
        client_id = "basic:" + request.headers["authorization"][6:][:64]
    address = request.client.host if request.client else "unknown"
    return f"oauth-token:{client_id or '-'}|{address}"


@router.post("/auth/token")
async def token(request: Request) -> JSONResponse:
    services: Services = request.app.state.services
    form = await read_form(request)
    grant_type = form.get("grant_type")
    if not grant_type:
        raise InvalidRequest("grant_type is required.")
    handler = GRANTS.get(grant_type)
    if handler is None:
        raise UnsupportedGrantType(f"grant_type '{grant_type}' is not supported.")
    key, now = _attempt_key(request, form), services.store.clock()
    until = await lockout.charge(services.db, key, now, max_failures=MAX_FAILURES, window=WINDOW)
    if until:  # charged before any secret is checked, so that parallel guesses share the limit
        wait = max(1, int((until - now).total_seconds()))
        raise TooManyAttempts(f"Too many failed attempts; try again in {wait} seconds.",
                              headers={"Retry-After": str(wait)})
    try:
        client = await client_auth.authenticate(request, form, services)
        if client.kind == "backend" and grant_type != "client_credentials":
            raise UnauthorizedClient("A back-end client may only use client_credentials.")
        body = await handler(services, client, form)
    except (InvalidClient, InvalidGrant):
        # Brute force on codes, refresh tokens, secrets or assertions: lock the key for a while.
        await lockout.record_failure(services.db, key, now, max_failures=MAX_FAILURES, window=WINDOW, lock=WINDOW)
        raise
    except Exception:
        await lockout.refund(services.db, key)  # not a wrong secret: the try is given back
        raise
    await lockout.refund(services.db, key)
    return JSONResponse(body, headers=NO_STORE)
