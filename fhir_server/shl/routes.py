"""The SMART Health Link endpoints under ``/shl/`` (CORS is open there, no cookies used):

- ``POST /shl/manifest/{id}`` with ``{"recipient", "passcode", "embeddedLengthMax"?}``: the
  manifest (SHL manifest request), or 401 ``{"remainingAttempts": n}``, or 404 with the reason;
- ``GET /shl/file/{token}``: a file's ciphertext behind a manifest's short-lived ``location``;
- ``GET /shl/view``: the recipient's viewer page (the key stays in the URL fragment, which
  browsers never send to the server).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from fhir_server import safe_json
from fhir_server.portal.pages import render
from fhir_server.portal.sessions import services_of
from fhir_server.shl import links

router = APIRouter()
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _json(status: int, body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=NO_STORE)


def _bad_request(message: str) -> JSONResponse:
    return _json(400, {"error": "invalid-request", "message": message})


@router.post("/shl/manifest/{manifest_id}")
async def manifest(manifest_id: str, request: Request) -> Response:
    try:
        body = safe_json.loads(await request.body() or b"{}")
    except safe_json.BadJson:
        return _bad_request("The request body must be JSON.")
    if not isinstance(body, dict):
        return _bad_request("The request body must be a JSON object.")
    recipient, passcode, embedded_max = body.get("recipient"), body.get("passcode"), body.get("embeddedLengthMax")
    if not isinstance(recipient, str) or not recipient.strip():
        return _bad_request("'recipient' is required.")
    if not isinstance(passcode, str) or not passcode or len(passcode) > 256:
        return _bad_request("This link needs its password ('passcode').")
    if embedded_max is not None and (not isinstance(embedded_max, int) or embedded_max < 0):
        return _bad_request("'embeddedLengthMax' must be a whole number.")
    try:
        answer = await links.open_manifest(services_of(request), manifest_id, passcode=passcode,
                                           recipient=recipient.strip(), embedded_max=embedded_max)
    except links.ManifestRefused as refused:
        return _json(refused.status, refused.body)
    return _json(200, answer)


@router.get("/shl/file/{token}")
async def file(token: str, request: Request) -> Response:
    ciphertext = await links.read_file(services_of(request), token)
    if ciphertext is None:
        return _json(404, {"error": "not-found", "message": "This file link has expired. Open the link again."})
    return Response(ciphertext, media_type="application/jose", headers=NO_STORE)


@router.get("/shl/view")
async def viewer(request: Request) -> Response:
    return render(request, "shl/viewer.html", title="Shared health record", account=None)
