"""Search: type (GET and POST ``_search``), system (``_type``) and Patient compartment
(https://hl7.org/fhir/R4/search.html, #compartments)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import Response

from fhir_server.access import Caller, check_resource, search_scope, system_search_scope
from fhir_server.resources import search as search_engine
from fhir_server.resources.errors import bad_request
from fhir_server.resources.http import FhirResponse, prefer
from fhir_server.resources.routes.common import audit_access, known_type
from fhir_server.resources.search import patient_compartments
from fhir_server.resources.validation import resource_types
from fhir_server.services import Services
from fhir_server.smart.bearer import CallerDep, ServicesDep

router = APIRouter()


async def run_search(request: Request, caller: Caller, services: Services, resource_type: str | None,
                     params: list[tuple[str, str]], compartment: tuple[str, str] | None = None) -> Response:
    strict = prefer(request, "handling") == "strict"
    if resource_type:
        scope = search_scope(caller, resource_type)
    else:
        types = [t for p, v in params if p == "_type" for t in v.split(",") if t]
        if not types:
            raise bad_request("A system search needs _type naming the resource types.", ["_type"])
        unknown = [t for t in types if t not in resource_types()]
        if unknown:
            raise bad_request(f"Unknown resource type(s) in _type: {', '.join(unknown)}.", ["_type"])
        scope = system_search_scope(caller, types)
    bundle = await search_engine.search(services.db.db, resource_type, params, base_url=services.settings.fhir_base,
                          scope=scope, strict=strict, compartment=compartment)
    resources = [e["resource"] for e in bundle.get("entry", []) if "resource" in e
                 and e["resource"].get("resourceType") != "OperationOutcome"]
    await audit_access(services, caller, "search-type" if resource_type else "search-system", resources)
    return FhirResponse(bundle)


def query_params(request: Request) -> list[tuple[str, str]]:
    return parse_qsl(request.url.query, keep_blank_values=True)


async def system_search(request: Request, caller: CallerDep, services: ServicesDep) -> Response:
    return await run_search(request, caller, services, None, query_params(request))


@router.post("/{resource_type}/_search")
async def search_post(resource_type: str, request: Request, caller: CallerDep,
                      services: ServicesDep) -> Response:
    known_type(resource_type)
    if request.headers.get("content-type", "").split(";")[0].strip() not in (
            "application/x-www-form-urlencoded", ""):
        raise bad_request("POST _search takes an application/x-www-form-urlencoded body.")
    body = (await request.body()).decode("utf-8", errors="replace")
    params = query_params(request) + parse_qsl(body, keep_blank_values=True)
    return await run_search(request, caller, services, resource_type, params)


@router.get("/{resource_type}")
async def type_search(resource_type: str, request: Request, caller: CallerDep,
                      services: ServicesDep) -> Response:
    known_type(resource_type)
    return await run_search(request, caller, services, resource_type, query_params(request))


@router.get("/Patient/{patient_id}/{resource_type}")
async def compartment_search(patient_id: str, resource_type: str, request: Request,
                             caller: CallerDep, services: ServicesDep) -> Response:
    known_type(resource_type)
    patient = await services.store.read("Patient", patient_id)
    assert patient.resource is not None
    check_resource(caller, "Patient", patient_id,
                   patient_compartments(patient.resource, services.settings.fhir_base), "r")
    return await run_search(request, caller, services, resource_type, query_params(request),
                            compartment=("Patient", patient_id))
