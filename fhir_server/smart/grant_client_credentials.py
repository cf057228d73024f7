"""The client_credentials grant for SMART Backend Services (RFC 6749 §4.4, RFC 7523).

The client authenticates with ``private_key_jwt`` (a symmetric confidential client may too);
it receives only ``system/`` scopes within those registered for it, for
``settings.backend_token_ttl`` seconds, and no refresh token (§4.4.3: "A refresh token
SHOULD NOT be included").
"""

from __future__ import annotations

from typing import Any

from fhir_server.services import Services
from fhir_server.smart.clients import Client
from fhir_server.smart.errors import InvalidScope, UnauthorizedClient
from fhir_server.smart.scopes import ScopeError, intersect_scopes, parse_grant
from fhir_server.smart.tokens import issue_access_token


async def grant(services: Services, client: Client, form: dict[str, str]) -> dict[str, Any]:
    if client.is_public:
        raise UnauthorizedClient("A public client cannot use client_credentials.")
    requested = form.get("scope") or client.scope or ""
    try:
        for scope in requested.split():
            grant_ = parse_grant(scope)
            if grant_ is None or grant_.context != "system":
                raise InvalidScope(f"'{scope}' is not a system/ scope; back-end tokens carry only system/ scopes.")
        granted = intersect_scopes(requested, client.scope or "")
    except ScopeError as exc:
        raise InvalidScope(str(exc)) from None
    if not granted:
        raise InvalidScope("None of the requested scopes is allowed for this client.")
    settings = services.settings
    scope = " ".join(granted)
    token, _ = issue_access_token(services.key, issuer=settings.base_url, audience=settings.fhir_base,
                                  subject=client.client_id, scope=scope, ttl=settings.backend_token_ttl,
                                  extra={"client_id": client.client_id})
    return {"access_token": token, "token_type": "Bearer", "expires_in": settings.backend_token_ttl, "scope": scope}
