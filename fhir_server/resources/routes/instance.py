"""Instance and type interactions: read, vread, create, update, patch, delete
(https://hl7.org/fhir/R4/http.html), with their conditional forms."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from fhir_server.access import check_resource, check_write
from fhir_server.resources import hooks
from fhir_server.resources.conditional import criteria_lock
from fhir_server.resources.errors import bad_request, precondition_failed
from fhir_server.resources.http import (
    MERGE_PATCH,
    PATCH_JSON,
    FhirResponse,
    etag_version,
    media_type,
    not_modified,
    read_json,
    version_headers,
    write_response,
)
from fhir_server.resources.patch import apply_patch
from fhir_server.resources.routes.common import audit_access, find_matching, known_type, read_visible
from fhir_server.resources.search import patient_compartments
from fhir_server.resources.validation import check_id, validate
from fhir_server.smart.bearer import CallerDep, ServicesDep

router = APIRouter()


@router.get("/{resource_type}/{resource_id}")
async def read(resource_type: str, resource_id: str, request: Request, caller: CallerDep,
               services: ServicesDep) -> Response:
    known_type(resource_type)
    version = await read_visible(services, caller, resource_type, resource_id)
    assert version.resource is not None
    await audit_access(services, caller, "read", [version.resource], version.compartments)
    if not_modified(request, version):
        return Response(status_code=304, headers=version_headers(version, services.settings.fhir_base))
    return FhirResponse(version.resource, headers=version_headers(version, services.settings.fhir_base))


@router.get("/{resource_type}/{resource_id}/_history/{vid}")
async def vread(resource_type: str, resource_id: str, vid: str, caller: CallerDep,
                services: ServicesDep) -> Response:
    known_type(resource_type)
    if not vid.isdigit():
        raise bad_request(f"'{vid}' is not a version id.")
    version = await read_visible(services, caller, resource_type, resource_id, int(vid))
    assert version.resource is not None
    await audit_access(services, caller, "vread", [version.resource])
    return FhirResponse(version.resource, headers=version_headers(version, services.settings.fhir_base))


@router.post("/{resource_type}")
async def create(resource_type: str, request: Request, caller: CallerDep,
                 services: ServicesDep) -> Response:
    known_type(resource_type)
    resource = validate(await read_json(request, services.settings.max_body_bytes), resource_type)
    base = services.settings.fhir_base
    check_write(caller, resource_type, patient_compartments(resource, base), "c")
    await hooks.before_write(services, caller, resource, "c")
    condition = request.headers.get("if-none-exist")
    if not condition:
        return await _create(request, caller, services, resource)
    async with criteria_lock(services.db, resource_type, condition):  # search-then-create, one at a time
        matches = await find_matching(services, caller, resource_type, condition.lstrip("?"))
        if len(matches) > 1:
            raise precondition_failed(f"If-None-Exist '{condition}' matches more than one {resource_type}.")
        if matches:
            existing = await services.store.read(resource_type, matches[0]["id"])
            await audit_access(services, caller, "read", [existing.resource or {}])
            return write_response(request, existing, 200, base)
        return await _create(request, caller, services, resource)


async def _create(request: Request, caller: CallerDep, services: ServicesDep, resource: dict[str, Any]) -> Response:
    resource.pop("id", None)
    version = await services.store.create(resource)
    await hooks.after_create(services, caller, [version.resource])
    await audit_access(services, caller, "create", [version.resource or {}])
    return write_response(request, version, 201, services.settings.fhir_base, location=True)


@router.put("/{resource_type}/{resource_id}")
async def update(resource_type: str, resource_id: str, request: Request, caller: CallerDep,
                 services: ServicesDep) -> Response:
    known_type(resource_type)
    check_id(resource_id)
    resource = validate(await read_json(request, services.settings.max_body_bytes), resource_type)
    if resource.get("id") is None:
        raise bad_request("An update must carry the resource's id in the body.", ["id"])
    if resource["id"] != resource_id:
        raise bad_request(f"The body's id '{resource['id']}' differs from the URL's id '{resource_id}'.", ["id"])
    return await _store_update(request, caller, services, resource, resource_id)


@router.put("/{resource_type}")
async def conditional_update(resource_type: str, request: Request, caller: CallerDep,
                             services: ServicesDep) -> Response:
    known_type(resource_type)
    resource = validate(await read_json(request, services.settings.max_body_bytes), resource_type)
    async with criteria_lock(services.db, resource_type, request.url.query):  # no two creates for one criteria
        matches = await find_matching(services, caller, resource_type, request.url.query)
        if len(matches) > 1:
            raise precondition_failed(f"The criteria match more than one {resource_type}; nothing was updated.")
        if matches:
            target = matches[0]["id"]
            if resource.get("id") not in (None, target):
                raise bad_request(f"The body's id '{resource['id']}' differs from the matched id '{target}'.",
                                  ["id"])
        else:
            target = resource.get("id") or services.store.new_id()
        return await _store_update(request, caller, services, resource, target)


async def _store_update(request: Request, caller: CallerDep, services: ServicesDep,
                        resource: dict[str, Any], resource_id: str) -> Response:
    base = services.settings.fhir_base
    resource_type = resource["resourceType"]
    existing = await services.store.find_current(resource_type, resource_id)
    if existing and existing.resource:
        check_resource(caller, resource_type, resource_id,
                       patient_compartments(existing.resource, base), "u")
    check_write(caller, resource_type, patient_compartments(resource, base), "u" if existing else "c")
    await hooks.before_write(services, caller, {**resource, "id": resource_id}, "u" if existing else "c")
    if_match = etag_version(request.headers.get("if-match"), "If-Match")
    version, created = await services.store.update(resource, resource_id, if_match=if_match)
    await hooks.after_create(services, caller, [version.resource] if created else [])
    await audit_access(services, caller, "create" if created else "update", [version.resource or {}])
    return write_response(request, version, 201 if created else 200, base, location=created)


@router.patch("/{resource_type}/{resource_id}")
async def patch(resource_type: str, resource_id: str, request: Request, caller: CallerDep,
                services: ServicesDep) -> Response:
    """JSON Patch (RFC 6902) or a partial resource as JSON merge patch (RFC 7386)."""
    known_type(resource_type)
    base = services.settings.fhir_base
    kind = media_type(request)
    body = await read_json(request, services.settings.max_body_bytes,
                           allowed={PATCH_JSON, MERGE_PATCH, "application/json", "application/fhir+json"})
    current = await services.store.read(resource_type, resource_id)
    assert current.resource is not None
    check_resource(caller, resource_type, resource_id, patient_compartments(current.resource, base), "u")
    patched = apply_patch(current.resource, body, kind)
    validate(patched, resource_type)
    check_write(caller, resource_type, patient_compartments(patched, base), "u")
    await hooks.before_write(services, caller, patched, "u")
    if_match = etag_version(request.headers.get("if-match"), "If-Match")
    version, _ = await services.store.update(patched, resource_id,
                                             if_match=if_match if if_match is not None else current.vid)
    await audit_access(services, caller, "patch", [version.resource or {}])
    return write_response(request, version, 200, base)


@router.delete("/{resource_type}/{resource_id}")
async def delete(resource_type: str, resource_id: str, caller: CallerDep,
                 services: ServicesDep) -> Response:
    known_type(resource_type)
    base = services.settings.fhir_base
    current = await services.store.find_current(resource_type, resource_id)
    if current and current.resource:
        check_resource(caller, resource_type, resource_id, patient_compartments(current.resource, base), "d")
        await services.store.delete(current)
        await audit_access(services, caller, "delete", [current.resource])
    else:
        check_resource(caller, resource_type, resource_id, [], "r")
    return Response(status_code=204)


@router.delete("/{resource_type}")
async def conditional_delete(resource_type: str, request: Request, caller: CallerDep,
                             services: ServicesDep) -> Response:
    known_type(resource_type)
    matches = await find_matching(services, caller, resource_type, request.url.query)
    if len(matches) > 1:
        raise precondition_failed(f"The criteria match more than one {resource_type}; nothing was deleted.")
    current = await services.store.find_current(resource_type, matches[0]["id"]) if matches else None
    if current and current.resource:
        check_resource(caller, resource_type, current.id,
                       patient_compartments(current.resource, services.settings.fhir_base), "d")
        await services.store.delete(current)
        await audit_access(services, caller, "delete", [current.resource])
    return Response(status_code=204)
