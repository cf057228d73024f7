"""The bearer-token door of ``/fhir``: who is asking, from the Authorization header.

A token stops working on the next request once it is revoked (RFC 7009) or, for a
delegate, once the Consent it rests on is no longer active.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import Depends, Request

from fhir_server.access import Caller
from fhir_server.db import Database
from fhir_server.resources.errors import unauthorized
from fhir_server.services import Services
from fhir_server.smart.scopes import ScopeError, parse_scopes
from fhir_server.smart.tokens import InvalidToken, verify_access_token

REVOKED = "revoked_tokens"


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def caller_from_claims(claims: dict[str, Any]) -> Caller:
    """Patient-context tokens use their patient/ and user/ grants inside that patient's
    compartment; tokens without a patient use their system/ grants for every patient."""
    try:
        grants = parse_scopes(str(claims.get("scope", "")))
    except ScopeError as exc:
        raise unauthorized(f"The access token carries an invalid scope: {exc}", error="invalid_token") from None
    patient = claims.get("patient")
    fhir_user = claims.get("fhirUser")
    if fhir_user and "/" in fhir_user and fhir_user.startswith("http"):
        fhir_user = "/".join(fhir_user.rsplit("/", 2)[-2:])
    if patient:
        kind = "delegate" if (fhir_user or "").startswith("RelatedPerson/") else "patient"
        usable = tuple(g for g in grants if g.context in ("patient", "user"))
        return Caller(kind=kind, subject=str(claims["sub"]), grants=usable,
                      patients=frozenset([patient]), client_id=claims.get("client_id"),
                      fhir_user=fhir_user, on_behalf_of=patient if kind == "delegate" else None,
                      claims=claims)
    usable = tuple(g for g in grants if g.context == "system")
    return Caller(kind="system", subject=str(claims["sub"]), grants=usable, patients=None,
                  client_id=claims.get("client_id"), fhir_user=fhir_user, claims=claims)


async def is_revoked(db: Database, claims: dict[str, Any]) -> bool:
    """Read at every request (a revocation holds on the very next one, on every worker); a
    delegate's two reads go out together."""
    token = db[REVOKED].find_one({"_id": claims["jti"]}, projection={"_id": 1})
    consent_id = claims.get("consent")
    if not consent_id:
        return await token is not None
    revoked, consent = await asyncio.gather(
        token, db.resources("Consent").find_one({"_id": consent_id}, projection={"res.status": 1}))
    return revoked is not None or not consent or consent["res"].get("status") != "active"


async def current_caller(request: Request) -> Caller:
    services = services_of(request)
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("This FHIR server needs an 'Authorization: Bearer <token>' header.")
    try:
        claims = verify_access_token(services.key, token.strip(), issuer=services.settings.base_url,
                                     audience=services.settings.fhir_base)
    except InvalidToken as exc:
        raise unauthorized(str(exc), error="invalid_token") from None
    if await is_revoked(services.db, claims):
        raise unauthorized("The access token has been revoked.", error="invalid_token")
    caller = caller_from_claims(claims)
    request.state.caller = caller  # the access log names the caller's kind and client id
    return caller


async def _services(request: Request) -> Services:
    # async: FastAPI runs a plain ``def`` dependency in its thread pool, a thread hop per request.
    return services_of(request)


CallerDep = Annotated[Caller, Depends(current_caller)]
ServicesDep = Annotated[Services, Depends(_services)]
