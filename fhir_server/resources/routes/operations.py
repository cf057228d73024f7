"""The operation routes, one table: $everything, $lastn and $validate (each operation's logic
is in ``resources/operations/``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from fhir_server.access import Caller, check_resource, search_scope
from fhir_server.resources.errors import FhirError, bad_request, forbidden
from fhir_server.resources.http import FhirResponse, read_json
from fhir_server.resources.operations.lastn import last_n
from fhir_server.resources.operations.patient_everything import MAX_COUNT, Page, all_patients_page, everything_page
from fhir_server.resources.operations.validate import validate_resource
from fhir_server.resources.routes.common import audit_access, known_type
from fhir_server.resources.search import SearchScope, patient_compartments
from fhir_server.smart.bearer import CallerDep, ServicesDep

router = APIRouter()


def scope_reader(caller: Caller) -> Any:
    def scope_for(resource_type: str) -> SearchScope | None:
        try:
            return search_scope(caller, resource_type, "r")
        except FhirError:
            return None

    return scope_for


@router.get("/Patient/$everything")
@router.post("/Patient/$everything")
async def all_patients_everything(request: Request, caller: CallerDep, services: ServicesDep) -> Response:
    """Type-level $everything: every patient's record, for back-end clients and administration."""
    if caller.patients is not None:
        raise forbidden("Patient/$everything spans every patient; use Patient/{id}/$everything with this token.")
    count, types = _everything_params(request)
    page = await all_patients_page(services.db.db, base_url=services.settings.fhir_base,
                                   scope_for=scope_reader(caller), since=request.query_params.get("_since"),
                                   types=types, count=count, cursor=request.query_params.get("_cursor"))
    await audit_access(services, caller, "operation", page.resources)
    return FhirResponse(_page_bundle(request, f"{services.settings.fhir_base}/Patient/$everything", page,
                                     services.settings.fhir_base))


def _everything_params(request: Request) -> tuple[int, list[str] | None]:
    raw_count = request.query_params.get("_count", "100")
    if not raw_count.isdigit() or int(raw_count) < 1:
        raise bad_request(f"_count must be a positive whole number, not '{raw_count}'.", ["_count"])
    types = [t for t in request.query_params.get("_type", "").split(",") if t] or None
    for t in types or []:
        known_type(t)
    return min(int(raw_count), MAX_COUNT), types


def _page_bundle(request: Request, self_url: str, page: Page, base: str) -> dict[str, Any]:
    query = request.query_params
    links = [{"relation": "self", "url": f"{self_url}?{request.url.query}" if request.url.query else self_url}]
    if page.next_cursor:
        params = [(k, v) for k, v in query.multi_items() if k != "_cursor"] + [("_cursor", page.next_cursor)]
        links.append({"relation": "next", "url": f"{self_url}?{urlencode(params)}"})
    return {
        "resourceType": "Bundle", "type": "searchset", "link": links,
        "entry": [{"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r, "search": {"mode": "match"}}
                  for r in page.resources],
    }


@router.get("/Patient/{patient_id}/$everything")
@router.post("/Patient/{patient_id}/$everything")
async def patient_everything(patient_id: str, request: Request, caller: CallerDep,
                             services: ServicesDep) -> Response:
    base = services.settings.fhir_base
    patient = await services.store.read("Patient", patient_id)
    assert patient.resource is not None
    check_resource(caller, "Patient", patient_id, patient_compartments(patient.resource, base), "r")
    count, types = _everything_params(request)
    page = await everything_page(services.db.db, patient_id, base_url=base, scope_for=scope_reader(caller),
                                 since=request.query_params.get("_since"), types=types, count=count,
                                 cursor=request.query_params.get("_cursor"))
    await audit_access(services, caller, "operation", page.resources)
    return FhirResponse(_page_bundle(request, f"{base}/Patient/{patient_id}/$everything", page, base))


@router.get("/Observation/$lastn")
async def observation_lastn(request: Request, caller: CallerDep, services: ServicesDep) -> Response:
    """The latest ``max`` Observations of each code for the subject, as a searchset."""
    base = services.settings.fhir_base
    params = parse_qsl(request.url.query, keep_blank_values=True)
    found = await last_n(services.db.db, params, scope=search_scope(caller, "Observation"), base_url=base)
    await audit_access(services, caller, "operation", found)
    self_url = f"{base}/Observation/$lastn" + (f"?{request.url.query}" if request.url.query else "")
    return FhirResponse({
        "resourceType": "Bundle", "type": "searchset", "total": len(found),
        "link": [{"relation": "self", "url": self_url}],
        "entry": [{"fullUrl": f"{base}/Observation/{r['id']}", "resource": r, "search": {"mode": "match"}}
                  for r in found],
    })


@router.post("/{resource_type}/$validate")
async def validate_type(resource_type: str, request: Request, caller: CallerDep,
                        services: ServicesDep) -> Response:
    known_type(resource_type)
    body = await read_json(request, services.settings.max_body_bytes)
    return FhirResponse(validate_resource(body, resource_type))


@router.post("/{resource_type}/{resource_id}/$validate")
async def validate_instance(resource_type: str, resource_id: str, request: Request, caller: CallerDep,
                            services: ServicesDep) -> Response:
    known_type(resource_type)
    body = await read_json(request, services.settings.max_body_bytes)
    resource = body
    if isinstance(body, dict) and body.get("id") not in (None, resource_id):
        raise bad_request(f"The body's id '{body['id']}' differs from the URL's id '{resource_id}'.", ["id"])
    return FhirResponse(validate_resource(resource, resource_type))


