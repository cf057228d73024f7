"""Token revocation (RFC 7009).

"The authorization server first validates the client credentials ... and then verifies
whether the token was issued to the client making the revocation request"; "invalid
tokens do not cause an error response" — the answer is 200 either way. An access token's
``jti`` goes into ``revoked_tokens`` until it would have expired, so the bearer door refuses
it on the next request; a refresh token takes its whole chain (and the chain's access
tokens) with it.
"""

from __future__ import annotations

import jwt
from fastapi import APIRouter, Request
from fastapi.responses import Response

from fhir_server.services import Services
from fhir_server.smart import client_auth, grant_refresh_token, store
from fhir_server.smart.clients import Client
from fhir_server.smart.errors import NO_STORE, InvalidRequest
from fhir_server.smart.keys import ALGORITHM
from fhir_server.smart.token import read_form

router = APIRouter()


async def revoke_token(services: Services, client: Client, token: str) -> bool:
    """Revoke ``token`` if it is this client's; True when something was revoked."""
    try:
        claims = jwt.decode(token, services.key.public_key, algorithms=[ALGORITHM],
                            audience=services.settings.fhir_base, options={"verify_exp": False})
    except jwt.PyJWTError:
        claims = None
    if claims is not None:
        if claims.get("client_id") != client.client_id or "jti" not in claims:
            return False
        await store.revoke_access_token(services.db, claims["jti"], int(claims["exp"]))
        return True
    doc = await grant_refresh_token.find(services.db, token)
    if doc and doc["authorization"]["client_id"] == client.client_id:
        await grant_refresh_token.revoke_chain(services.db, doc["chain"])
        return True
    return False


@router.post("/auth/revoke")
async def revoke(request: Request) -> Response:
    services: Services = request.app.state.services
    form = await read_form(request)
    client = await client_auth.authenticate(request, form, services)
    token = form.get("token")
    if not token:
        raise InvalidRequest("token is required.")
    await revoke_token(services, client, token)
    return Response(status_code=200, headers=NO_STORE)
