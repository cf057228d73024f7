"""The token response (SMART App Launch 2.x, "Response to access token request").

``access_token``, ``token_type: Bearer``, ``expires_in``, ``scope`` (what was granted),
``patient`` with ``need_patient_banner`` for patient context, ``id_token`` when ``openid``
was granted, ``refresh_token`` when ``offline_access`` or ``online_access`` was.
"""

from __future__ import annotations

import time
from typing import Any

import jwt

from fhir_server.services import Services
from fhir_server.smart.keys import ALGORITHM
from fhir_server.smart.store import Authorization
from fhir_server.smart.tokens import issue_access_token


def access_claims(authorization: Authorization) -> dict[str, Any]:
    extra: dict[str, Any] = {"client_id": authorization.client_id}
    if authorization.patient:
        extra["patient"] = authorization.patient
    if authorization.fhir_user:
        extra["fhirUser"] = authorization.fhir_user
    if authorization.consent:
        extra["consent"] = authorization.consent
    return extra


def id_token(services: Services, authorization: Authorization, issued: int) -> str:
    """OpenID Connect Core §2: signed RS256 by the server key, ``aud`` = the client."""
    settings = services.settings
    claims: dict[str, Any] = {
        "iss": settings.base_url, "sub": authorization.sub, "aud": authorization.client_id,
        "iat": issued, "exp": issued + settings.access_token_ttl,
        "auth_time": authorization.auth_time or issued,
    }
    if authorization.fhir_user:
        claims["fhirUser"] = f"{settings.fhir_base}/{authorization.fhir_user}"
    if authorization.nonce:
        claims["nonce"] = authorization.nonce
    return jwt.encode(claims, services.key.private_key, algorithm=ALGORITHM, headers={"kid": services.key.kid})


async def token_response(services: Services, authorization: Authorization, *,
                         chain: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The response body, and what was issued (``jti``, ``exp``, ``chain``) for later revocation."""
    from fhir_server.smart.grant_refresh_token import issue_refresh_token

    settings = services.settings
    issued = int(time.time())
    token, claims = issue_access_token(
        services.key, issuer=settings.base_url, audience=settings.fhir_base, subject=authorization.sub,
        scope=authorization.scope, ttl=settings.access_token_ttl, extra=access_claims(authorization), now=issued)
    body: dict[str, Any] = {"access_token": token, "token_type": "Bearer",
                            "expires_in": settings.access_token_ttl, "scope": authorization.scope}
    if authorization.patient:
        body["patient"] = authorization.patient
        body["need_patient_banner"] = True
    scopes = authorization.scope.split()
    if "openid" in scopes:
        body["id_token"] = id_token(services, authorization, issued)
    record = {"jti": claims["jti"], "exp": claims["exp"], "chain": None}
    if "offline_access" in scopes or "online_access" in scopes:
        body["refresh_token"], record["chain"] = await issue_refresh_token(
            services.db, authorization, chain=chain, access=(claims["jti"], claims["exp"]))
    return body, record
