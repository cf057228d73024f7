"""The token endpoint (RFC 6749 §3.2): authenticates the client, then one module per grant."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from fhir_server.services import Services
from fhir_server.smart import client_auth, grant_authorization_code, grant_client_credentials, grant_refresh_token
from fhir_server.smart.clients import Client
from fhir_server.smart.errors import NO_STORE, InvalidRequest, UnauthorizedClient, UnsupportedGrantType

Grant = Callable[[Services, Client, dict[str, str]], Awaitable[dict[str, Any]]]
GRANTS: dict[str, Grant] = {
    "authorization_code": grant_authorization_code.grant,
    "refresh_token": grant_refresh_token.grant,
    "client_credentials": grant_client_credentials.grant,
}

router = APIRouter()


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
    client = await client_auth.authenticate(request, form, services)
    if client.kind == "backend" and grant_type != "client_credentials":
        raise UnauthorizedClient("A back-end client may only use client_credentials.")
    body = await handler(services, client, form)
    return JSONResponse(body, headers=NO_STORE)
