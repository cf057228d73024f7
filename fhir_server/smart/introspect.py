"""Token introspection (RFC 7662; SMART App Launch "Token Introspection").

"the endpoint MUST also require some form of authorization to access this endpoint": a
back-end (system) bearer token, or a confidential client's own authentication. The answer
is ``{"active": false}`` for anything not currently valid — expired, revoked, tampered,
unknown — and nothing more (§2.2). A client learns only about tokens issued to itself, unless
it is registered as a resource server (``clients add --resource-server``) or the caller is
practice administration (a system token of no registered client, from ``carespace token``):
otherwise any confidential client could read the patient, account and scopes of another
app's tokens (RFC 7662 §4: the server may answer inactive to a caller not allowed to know).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from fhir_server.services import Services
from fhir_server.smart import client_auth, grant_refresh_token
from fhir_server.smart.bearer import is_revoked
from fhir_server.smart.clients import get_client
from fhir_server.smart.errors import NO_STORE, InvalidClient, InvalidRequest
from fhir_server.smart.system_bearer import system_claims
from fhir_server.smart.token import read_form
from fhir_server.smart.tokens import InvalidToken as BadJwt
from fhir_server.smart.tokens import verify_access_token

router = APIRouter()
FIELDS = ("scope", "client_id", "exp", "iat", "sub", "patient", "fhirUser", "iss", "aud", "jti")


async def _authorize_caller(request: Request, form: dict[str, str], services: Services) -> str | None:
    """Authenticate the caller; returns the client id it may introspect for, or None for any."""
    claims = await system_claims(request, services, "Introspection")
    if claims is not None:
        client = await get_client(services.db, claims.get("client_id"))
        return None if client is None or client.resource_server else client.client_id
    if not client_auth.has_credentials(request, form):
        raise InvalidClient("Introspection needs a system bearer token or confidential client authentication.")
    client = await client_auth.authenticate(request, form, services)
    return None if client.resource_server else client.client_id


async def introspect_token(services: Services, token: str, *, for_client: str | None = None) -> dict[str, Any]:
    """The logic, without HTTP: what a token is, if it is active (and, with ``for_client``,
    issued to that client: another client's token is inactive to it)."""
    answer = await _describe(services, token)
    if for_client is not None and answer.get("client_id") != for_client:
        return {"active": False}
    return answer


async def _describe(services: Services, token: str) -> dict[str, Any]:
    settings = services.settings
    try:
        claims = verify_access_token(services.key, token, issuer=settings.base_url, audience=settings.fhir_base)
    except BadJwt:
        claims = None
    if claims is not None:
        if await is_revoked(services.db, claims):
            return {"active": False}
        return {"active": True, "token_type": "Bearer", **{k: claims[k] for k in FIELDS if k in claims}}
    doc = await grant_refresh_token.find(services.db, token)
    if grant_refresh_token.is_active(doc):
        assert doc is not None
        auth = doc["authorization"]
        answer = {"active": True, "token_type": "refresh_token", "scope": auth["scope"],
                  "client_id": auth["client_id"], "sub": auth["sub"],
                  "exp": int(doc["expires_at"].timestamp())}
        if auth.get("patient"):
            answer["patient"] = auth["patient"]
        if auth.get("fhir_user"):
            answer["fhirUser"] = auth["fhir_user"]
        return answer
    return {"active": False}


@router.post("/auth/introspect")
async def introspect(request: Request) -> JSONResponse:
    services: Services = request.app.state.services
    form = await read_form(request)
    for_client = await _authorize_caller(request, form, services)
    token = form.get("token")
    if not token:
        raise InvalidRequest("token is required.")
    return JSONResponse(await introspect_token(services, token, for_client=for_client), headers=NO_STORE)
