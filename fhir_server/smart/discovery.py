"""Discovery: SMART's ``.well-known/smart-configuration`` (App Launch 2.x "Conformance"),
OpenID Connect Discovery 1.0, and the server's JWK Set (RFC 7517).

``capabilities`` lists exactly what this server does; absolute URLs throughout.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from fhir_server.config import Settings
from fhir_server.smart.client_assertion import ALGORITHMS
from fhir_server.smart.client_auth import METHODS

CAPABILITIES = [
    "launch-standalone", "launch-ehr", "client-public", "client-confidential-symmetric",
    "client-confidential-asymmetric", "context-standalone-patient", "context-ehr-patient",
    "permission-patient", "permission-user", "permission-offline", "permission-v1", "permission-v2",
    "sso-openid-connect", "authorize-post",
]
SCOPES = [
    "openid", "fhirUser", "profile", "launch", "launch/patient", "offline_access", "online_access",
    "patient/*.rs", "patient/*.cruds", "user/*.rs", "user/*.cruds", "system/*.rs", "system/*.cruds",
    "patient/*.read", "patient/*.write", "user/*.read", "system/*.read",
]
GRANT_TYPES = ["authorization_code", "refresh_token", "client_credentials"]


def endpoints(settings: Settings) -> dict[str, str]:
    base = settings.base_url.rstrip("/")
    return {
        "authorization_endpoint": f"{base}/auth/authorize",
        "token_endpoint": f"{base}/auth/token",
        "introspection_endpoint": f"{base}/auth/introspect",
        "revocation_endpoint": f"{base}/auth/revoke",
        "jwks_uri": f"{base}/auth/jwks",
    }


def smart_configuration(settings: Settings) -> dict[str, Any]:
    return {
        "issuer": settings.base_url,
        **endpoints(settings),
        "grant_types_supported": GRANT_TYPES,
        "scopes_supported": SCOPES,
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": list(METHODS),
        "token_endpoint_auth_signing_alg_values_supported": list(ALGORITHMS),
        "capabilities": CAPABILITIES,
    }


def openid_configuration(settings: Settings) -> dict[str, Any]:
    ends = endpoints(settings)
    return {
        "issuer": settings.base_url,
        "authorization_endpoint": ends["authorization_endpoint"],
        "token_endpoint": ends["token_endpoint"],
        "jwks_uri": ends["jwks_uri"],
        "introspection_endpoint": ends["introspection_endpoint"],
        "revocation_endpoint": ends["revocation_endpoint"],
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "fhirUser", "profile"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "fhirUser"],
        "grant_types_supported": GRANT_TYPES,
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": list(METHODS),
    }


fhir_router = APIRouter()  # mounted under /fhir
router = APIRouter()


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.services.settings
    return settings


@fhir_router.get("/.well-known/smart-configuration")
async def fhir_smart_configuration(request: Request) -> JSONResponse:
    return JSONResponse(smart_configuration(_settings(request)))


@router.get("/.well-known/smart-configuration")
async def root_smart_configuration(request: Request) -> JSONResponse:
    return JSONResponse(smart_configuration(_settings(request)))


@router.get("/.well-known/openid-configuration")
async def openid(request: Request) -> JSONResponse:
    return JSONResponse(openid_configuration(_settings(request)))


@router.get("/auth/jwks")
async def jwks(request: Request) -> JSONResponse:
    return JSONResponse({"keys": [request.app.state.services.key.public_jwk()]})
