"""The FHIR HTTP conventions: media types, bodies, ETags, Prefer, and error rendering."""

from __future__ import annotations

import json
import logging
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from fhir_server import safe_json
from fhir_server.ops.logs import route_template
from fhir_server.resources.errors import FhirError, bad_request, operation_outcome
from fhir_server.resources.store import Version

FHIR_JSON = "application/fhir+json"
JSON_TYPES = {"application/fhir+json", "application/json", "application/json+fhir"}
PATCH_JSON = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
log = logging.getLogger("carespace.fhir")


class FhirResponse(JSONResponse):
    media_type = FHIR_JSON

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)  # compact UTF-8, several times faster than json.dumps
        except TypeError:  # what orjson refuses (an integer beyond 64 bits): the standard encoder
            return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_json(request: Request, max_bytes: int, *, allowed: set[str] | None = None) -> Any:
    """The body as JSON: 415 for XML or any other non-JSON type, 413 when too large."""
    kind = media_type(request)
    allowed = allowed or JSON_TYPES
    if kind not in allowed:
        what = kind or "no Content-Type"
        raise FhirError(415, "not-supported",
                        f"This server accepts FHIR JSON only ({', '.join(sorted(allowed))}), not {what}.")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise FhirError(413, "too-costly", f"The body is larger than the {max_bytes // (1024 * 1024)} MiB limit.")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > max_bytes:
            raise FhirError(413, "too-costly", f"The body is larger than the {max_bytes // (1024 * 1024)} MiB limit.")
    try:
        return safe_json.loads(body)
    except safe_json.BadJson as exc:
        raise FhirError(400, "structure", f"The body is not valid JSON: {exc}.") from None


def etag_version(header: str | None, name: str) -> int | None:
    """``W/"3"`` (or ``"3"``, or ``3``) as 3."""
    if header is None:
        return None
    value = header.strip()
    value = value.removeprefix("W/").strip('"')
    if not value.isdigit():
        raise bad_request(f'{name} must be a version ETag such as W/"3", not {header!r}.')
    return int(value)


def version_headers(version: Version, base_url: str, *, location: bool = False) -> dict[str, str]:
    headers = {"ETag": version.etag, "Last-Modified": format_datetime(version.last_updated, usegmt=True)}
    if location:
        headers["Location"] = f"{base_url}/{version.resource_type}/{version.id}/_history/{version.vid}"
    return headers


def not_modified(request: Request, version: Version) -> bool:
    """If-None-Match / If-Modified-Since on read."""
    inm = request.headers.get("if-none-match")
    if inm:
        return any(tag.strip().removeprefix("W/").strip('"') == str(version.vid) for tag in inm.split(","))
    ims = request.headers.get("if-modified-since")
    if ims:
        try:
            since = parsedate_to_datetime(ims)
        except (TypeError, ValueError):
            return False
        return version.last_updated.replace(microsecond=0) <= since
    return False


def prefer(request: Request, name: str) -> str | None:
    for part in request.headers.get("prefer", "").split(";"):
        for item in part.split(","):
            key, _, value = item.strip().partition("=")
            if key.strip() == name:
                return value.strip().strip('"')
    return None


def write_response(request: Request, version: Version, status: int, base_url: str, *,
                   location: bool = False) -> Response:
    """The body of a create/update/patch, as ``Prefer: return=`` asks."""
    headers = version_headers(version, base_url, location=location)
    wanted = prefer(request, "return") or "representation"
    if wanted == "minimal":
        return Response(status_code=status, headers=headers)
    if wanted == "OperationOutcome":
        stored = f"{version.resource_type}/{version.id} stored as version {version.vid}."
        outcome = operation_outcome("informational", stored, severity="information")
        return FhirResponse(outcome, status_code=status, headers=headers)
    return FhirResponse(version.resource, status_code=status, headers=headers)


def fhir_error_response(exc: FhirError) -> FhirResponse:
    return FhirResponse(exc.outcome(), status_code=exc.status, headers=exc.headers)


async def handle_fhir_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FhirError)
    return fhir_error_response(exc)


async def handle_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return fhir_error_response(FhirError(404, "not-found", f"There is no FHIR endpoint at {request.url.path}."))
    if exc.status_code == 405:
        message = f"{request.method} is not supported on {request.url.path}."
        return fhir_error_response(FhirError(405, "not-supported", message))
    return fhir_error_response(FhirError(exc.status_code, "processing", str(exc.detail)))


async def handle_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()))
    return fhir_error_response(bad_request(f"{where}: {first.get('msg', 'invalid request')}"))


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    # Logged with its traceback for the operator; the client gets an OperationOutcome only.
    # The route template, not the path: a path can hold a secret (a Send Record link's id).
    log.exception("Unexpected error on %s %s", request.method, route_template(request.scope))
    message = "The server failed to process the request; it has been logged."
    return fhir_error_response(FhirError(500, "exception", message))
