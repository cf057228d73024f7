"""A back-end (system/) bearer token on an authorization-server endpoint (introspection,
launch contexts): RFC 6750 errors, never an OperationOutcome."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from fhir_server.services import Services
from fhir_server.smart.bearer import is_revoked
from fhir_server.smart.errors import InvalidToken
from fhir_server.smart.tokens import InvalidToken as BadJwt
from fhir_server.smart.tokens import verify_access_token


async def system_claims(request: Request, services: Services, needed_for: str) -> dict[str, Any] | None:
    """The claims of a current system token in the Authorization header; None when the request
    sends no bearer token; ``invalid_token`` for any other token (``needed_for`` says why)."""
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        return None
    try:
        claims = verify_access_token(services.key, header[7:].strip(), issuer=services.settings.base_url,
                                     audience=services.settings.fhir_base)
    except BadJwt as exc:
        raise InvalidToken(str(exc)) from None
    system = any(s.startswith("system/") for s in str(claims.get("scope", "")).split())
    if await is_revoked(services.db, claims) or claims.get("patient") or not system:
        raise InvalidToken(f"{needed_for} needs a current back-end (system/) token.")
    return claims
