"""Bulk Data Access routes (https://hl7.org/fhir/uv/bulkdata/export.html): kick-off
(``$export`` at system, Patient and Group level), status (``$export-status/{job}``: poll, DELETE to
cancel) and download (``$export-file/{job}/{Type}.ndjson``). The logic lives in
``resources/operations/export.py``; these routes parse the request and shape the answers."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from fhir_server.access import Caller, check_resource, search_scope
from fhir_server.resources.errors import FhirError, bad_request, forbidden, operation_outcome
from fhir_server.resources.http import FhirResponse, prefer, read_json
from fhir_server.resources.operations import export, export_filters
from fhir_server.resources.search import PATIENT_COMPARTMENT, patient_compartments
from fhir_server.resources.validation import check_type
from fhir_server.services import Services
from fhir_server.smart.bearer import CallerDep, ServicesDep

router = APIRouter()

OUTPUT_FORMATS = {"application/fhir+ndjson", "application/ndjson", "ndjson"}
SUPPORTED = {"_outputFormat", "_since", "_type", "_typeFilter", "_elements", "patient"}
NDJSON = "application/fhir+ndjson"


@router.get("/$export")
@router.post("/$export")
async def export_system(request: Request, caller: CallerDep, services: ServicesDep) -> Response:
    """Every resource the client's system scopes may read."""
    return await _kick_off(request, caller, services, patient_level=False)


@router.get("/Patient/$export")
@router.post("/Patient/$export")
async def export_patients(request: Request, caller: CallerDep, services: ServicesDep) -> Response:
    """Every patient's compartment (Patient and the types the Patient compartment lists)."""
    return await _kick_off(request, caller, services, patient_level=True)


@router.get("/Group/{group_id}/$export")
@router.post("/Group/{group_id}/$export")
async def export_group(group_id: str, request: Request, caller: CallerDep, services: ServicesDep) -> Response:
    """The compartments of the Group's member Patients only."""
    if caller.patients is not None:
        raise forbidden("Bulk export spans every patient: it needs a back-end token with system/ scopes.")
    group = await services.store.read("Group", group_id)
    assert group.resource is not None
    check_resource(caller, "Group", group_id, patient_compartments(group.resource, services.settings.fhir_base), "r")
    members = export_filters.group_members(group.resource, services.settings.fhir_base)
    return await _kick_off(request, caller, services, patient_level=True, members=members)


async def _kick_off(request: Request, caller: Caller, services: Services, *, patient_level: bool,
                    members: list[str] | None = None) -> Response:
    if caller.patients is not None:
        raise forbidden("Bulk export spans every patient: it needs a back-end token with system/ scopes.")
    accept = request.headers.get("accept", "")
    if "application/fhir+json" not in accept:
        raise bad_request("The kick-off request needs 'Accept: application/fhir+json'.")
    if prefer(request, "respond-async") is None:
        raise bad_request("Bulk export is asynchronous: send 'Prefer: respond-async'.")
    params = await _parameters(request, services)
    lenient = prefer(request, "handling") == "lenient"
    unsupported = sorted({name for name, _ in params} - SUPPORTED)
    if unsupported and not lenient:
        raise bad_request(f"This server does not support the parameter(s) {', '.join(unsupported)}.", unsupported)
    for name, value in params:
        if name == "_outputFormat" and value not in OUTPUT_FORMATS:
            raise bad_request(f"_outputFormat '{value}' is not supported; use application/fhir+ndjson.",
                              ["_outputFormat"])
    since_values = [v for n, v in params if n == "_since"]
    since = _instant(since_values[-1]) if since_values else None
    requested = [t.strip() for n, v in params if n == "_type" for t in v.split(",") if t.strip()]
    types, scopes = await _types(services, caller, requested, patient_level)
    patients = _patients(params, patient_level, members)
    if patients is not None:
        scopes = {t: export_filters.limited_to(scope, patients) for t, scope in scopes.items()}
    filters = export_filters.type_filters([v for n, v in params if n == "_typeFilter"], services.settings.fhir_base)
    elements = export_filters.elements([v for n, v in params if n == "_elements"])
    job_id = await export.start(services, caller, export.ExportRequest(
        url=str(request.url), types=types, scopes=scopes, since=since, type_filters=filters, elements=elements))
    status_url = f"{services.settings.fhir_base}/$export-status/{job_id}"
    outcome = operation_outcome("informational", f"Export started; poll {status_url} for its status.",
                                severity="information")
    return FhirResponse(outcome, status_code=202, headers={"Content-Location": status_url})


def _patients(params: list[tuple[str, str]], patient_level: bool, members: list[str] | None) -> list[str] | None:
    """The patients whose compartments are exported (None: every patient)."""
    asked = [v for n, v in params if n == "patient"]
    if asked and not patient_level:
        raise bad_request("patient applies to Patient/$export and Group/{id}/$export only.", ["patient"])
    if not asked:
        return members
    ids = export_filters.patient_ids(asked)
    outside = sorted(set(ids) - set(members)) if members is not None else []
    if outside:
        raise bad_request(f"Not members of the Group: {', '.join('Patient/' + i for i in outside)}.", ["patient"])
    return ids


async def _parameters(request: Request, services: Services) -> list[tuple[str, str]]:
    """The query (GET), or the Parameters resource of a POST (each value as a string)."""
    if request.method == "GET" or not await request.body():
        return list(request.query_params.multi_items())
    body = await read_json(request, services.settings.max_body_bytes)
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise bad_request("A POST kick-off carries a Parameters resource.")
    out: list[tuple[str, str]] = []
    for parameter in body.get("parameter") or []:
        values = [v for k, v in parameter.items() if k.startswith("value")]
        if values and isinstance(values[0], dict) and isinstance(values[0].get("reference"), str):
            values = [values[0]["reference"]]  # patient: valueReference
        if not values or not isinstance(values[0], str):
            raise bad_request(f"Parameter '{parameter.get('name')}' needs a string, code or instant value.")
        out.append((str(parameter.get("name")), values[0]))
    return out


def _instant(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None or "T" not in value:
        raise bad_request(f"_since must be a FHIR instant with a time zone (2026-01-31T08:00:00Z), not '{value}'.",
                          ["_since"])
    return moment.astimezone(UTC)


async def _types(services: Services, caller: Caller, requested: list[str],
                 patient_level: bool) -> tuple[list[str], dict[str, Any]]:
    """The types to write and the caller's scope for each. Asked-for types must be readable
    (403 otherwise); without ``_type``, every readable type that holds data (Binary only on
    request, as in a system search)."""
    for resource_type in requested:
        check_type(resource_type)
        if patient_level and resource_type not in PATIENT_COMPARTMENT:
            raise bad_request(f"{resource_type} is not in the Patient compartment; use /$export for it.", ["_type"])
    if requested:
        types = sorted(set(requested))
        return types, {t: search_scope(caller, t) for t in types}
    existing = set(await services.db.db.list_collection_names())
    candidates = PATIENT_COMPARTMENT if patient_level else existing
    types: list[str] = []
    scopes: dict[str, Any] = {}
    for resource_type in sorted(t for t in candidates if t in existing and t != "Binary"):
        try:
            check_type(resource_type)
            scopes[resource_type] = search_scope(caller, resource_type)
        except FhirError:
            continue  # not a resource collection, or not readable with these scopes
        types.append(resource_type)
    return types, scopes


@router.get("/$export-status/{job_id}")
async def export_status(job_id: str, caller: CallerDep, services: ServicesDep) -> Response:
    job = await export.job_of(services, caller, job_id)
    if job["state"] == "running":
        return Response(status_code=202, headers={"X-Progress": job["progress"][:100], "Retry-After": "1"})
    if job["state"] != "completed":
        reason = job.get("failure") or "The export did not complete."
        return FhirResponse(operation_outcome("exception", reason), status_code=500)
    expires = format_datetime(job["expires"].astimezone(UTC), usegmt=True)
    return JSONResponse(export.manifest(job, services.settings.fhir_base), headers={"Expires": expires})


@router.delete("/$export-status/{job_id}")
async def export_cancel(job_id: str, caller: CallerDep, services: ServicesDep) -> Response:
    await export.cancel(services, caller, job_id)
    outcome = operation_outcome("informational", f"Export {job_id} was cancelled and its files removed.",
                                severity="information")
    return FhirResponse(outcome, status_code=202)


@router.get("/$export-file/{job_id}/{name}")
async def export_file(job_id: str, name: str, caller: CallerDep, services: ServicesDep) -> Response:
    chunks, entry = await export.open_file(services, caller, job_id, name)
    await export.audit_download(services, caller, job_id, entry)
    return StreamingResponse(chunks, media_type=NDJSON)
