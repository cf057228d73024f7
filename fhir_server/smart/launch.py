"""EHR and portal launch (SMART App Launch 2.x "EHR Launch"): a ``launch`` value bound to a
patient, which /auth/authorize redeems when the app asks for the ``launch`` scope.

``POST /auth/launch`` with ``patient``: by a signed-in portal user for a patient they may
open (the portal's Apps page), or by a back-end client with a system/ token (an EHR).
Contexts live for an hour (TTL index).
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from fhir_server import safe_json
from fhir_server.services import Services
from fhir_server.smart import signin, store
from fhir_server.smart.errors import NO_STORE, AccessDenied, InvalidRequest, InvalidToken
from fhir_server.smart.store import LAUNCH_CONTEXTS
from fhir_server.smart.system_bearer import system_claims

LAUNCH_TTL = 3600
router = APIRouter()


async def create_launch(services: Services, patient: str, created_by: str) -> str:
    launch = secrets.token_urlsafe(24)
    await services.db[LAUNCH_CONTEXTS].insert_one({
        "_id": launch, "patient": patient, "created_by": created_by, "expires_at": store.expires_in(LAUNCH_TTL)})
    return launch


async def resolve(services: Services, launch: str) -> dict[str, Any] | None:
    doc = await services.db[LAUNCH_CONTEXTS].find_one({"_id": launch})
    if doc is None or doc["expires_at"] <= store.now():
        return None
    return doc


async def _creator(request: Request, services: Services, patient: str) -> str:
    claims = await system_claims(request, services, "Creating a launch context")
    if claims:
        return f"client:{claims.get('client_id') or claims['sub']}"
    account = await signin.current_account(request)
    if account is None:
        raise InvalidToken("Sign in to the portal, or send a system bearer token.")
    if patient not in [pid for pid, _ in await signin.accessible_patients(services.db, account)]:
        raise AccessDenied("You may not open this patient's record.")
    return f"account:{account.id}"


@router.post("/auth/launch")
async def launch(request: Request) -> JSONResponse:
    services: Services = request.app.state.services
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = safe_json.loads(await request.body())
        except safe_json.BadJson as exc:
            raise InvalidRequest(f"The body is not valid JSON: {exc}.") from None
        if not isinstance(body, dict):
            raise InvalidRequest("The body must be a JSON object.")
    else:
        body = dict(await request.form())
    patient = str(body.get("patient") or "")
    if not patient:
        raise InvalidRequest("patient is required.")
    created_by = await _creator(request, services, patient)
    if not await services.db.resources("Patient").find_one({"_id": patient}, projection={"_id": 1}):
        raise InvalidRequest(f"Patient/{patient} is not known.")
    launch_id = await create_launch(services, patient, created_by)
    return JSONResponse({"launch": launch_id, "patient": patient, "expires_in": LAUNCH_TTL}, headers=NO_STORE)
