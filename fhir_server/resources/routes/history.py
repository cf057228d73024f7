"""History: instance, type and system (https://hl7.org/fhir/R4/http.html#history),
newest first, with ``_count``, ``_since`` and keyset paging."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from fhir_server.access import Caller, can_read_everything, check_interaction, check_resource
from fhir_server.resources.errors import bad_request, forbidden, not_found
from fhir_server.resources.http import FhirResponse
from fhir_server.resources.routes.common import audit_access, known_type, read_visible
from fhir_server.resources.search import patient_compartments
from fhir_server.resources.search.compartment import visible_to
from fhir_server.resources.store import Version, instant
from fhir_server.services import Services
from fhir_server.smart.bearer import CallerDep, ServicesDep

router = APIRouter()
DEFAULT_COUNT, MAX_COUNT = 20, 1000


@router.get("/_history")
async def system_history(request: Request, caller: CallerDep, services: ServicesDep) -> Response:
    return await _history(request, caller, services, None, None)


@router.get("/{resource_type}/_history")
async def type_history(resource_type: str, request: Request, caller: CallerDep,
                       services: ServicesDep) -> Response:
    known_type(resource_type)
    return await _history(request, caller, services, resource_type, None)


@router.get("/{resource_type}/{resource_id}/_history")
async def instance_history(resource_type: str, resource_id: str, request: Request,
                           caller: CallerDep, services: ServicesDep) -> Response:
    known_type(resource_type)
    return await _history(request, caller, services, resource_type, resource_id)


def _params(request: Request) -> tuple[int, datetime | None, tuple[datetime, str] | None]:
    query = request.query_params
    raw_count = query.get("_count", str(DEFAULT_COUNT))
    if not raw_count.isdigit():
        raise bad_request(f"_count must be a whole number, not '{raw_count}'.", ["_count"])
    count = min(int(raw_count), MAX_COUNT) or DEFAULT_COUNT
    since = None
    if "_since" in query:
        try:
            since = datetime.fromisoformat(query["_since"].replace("Z", "+00:00"))
        except ValueError:
            raise bad_request(f"_since must be a FHIR instant, not '{query['_since']}'.", ["_since"]) from None
        if since.tzinfo is None:
            raise bad_request("_since must carry a time zone.", ["_since"])
    cursor = None
    if "_cursor" in query:
        try:
            moment, key = json.loads(base64.urlsafe_b64decode(query["_cursor"]))
            cursor = (datetime.fromisoformat(moment), str(key))
        except (ValueError, TypeError):
            raise bad_request("_cursor is not one this server issued.", ["_cursor"]) from None
    return count, since, cursor


async def _history(request: Request, caller: Caller, services: Services,
                   resource_type: str | None, resource_id: str | None) -> Response:
    count, since, cursor = _params(request)
    base = services.settings.fhir_base
    if caller.patients is not None and resource_id is None:
        raise forbidden("Type and system history span patients; a patient-scoped token cannot read them.")
    if resource_type:
        check_interaction(caller, resource_type, "r")
    elif not can_read_everything(caller):
        raise forbidden("System history spans every type; it needs a scope that reads every type (system/*.r).")
    versions = await services.store.history(resource_type, resource_id, since=since, count=count,
                                            before=cursor)
    if resource_type and resource_id:
        if not versions:
            await read_visible(services, caller, resource_type, resource_id)  # 404/410 as a read would say
        if caller.patients is not None:
            # Each version only for those whose record it was in: a result filed to the wrong
            # patient and then corrected stays private to each of them.
            versions = [v for v in versions if v.resource is None
                        or visible_to(caller.patients, resource_type, patient_compartments(v.resource, base))]
            if not any(v.resource for v in versions):
                raise not_found(resource_type, resource_id)
        compartments = [c for v in versions if v.resource for c in patient_compartments(v.resource, base)]
        check_resource(caller, resource_type, resource_id, compartments, "r")
    page, more = versions[:count], len(versions) > count
    await audit_access(services, caller, "history-instance" if resource_id else "history-type",
                       [v.resource for v in page if v.resource])
    path = "/".join(p for p in (resource_type, resource_id) if p)
    self_url = f"{base}/{path + '/' if path else ''}_history"
    links = [{"relation": "self", "url": f"{self_url}?{request.url.query}" if request.url.query else self_url}]
    if more and page:
        last = page[-1]
        token = base64.urlsafe_b64encode(json.dumps(
            [last.last_updated.isoformat(), f"{last.resource_type}/{last.id}/{last.vid}"]).encode()).decode()
        params: dict[str, Any] = {"_count": count, "_cursor": token}
        if since:
            params["_since"] = instant(since)
        links.append({"relation": "next", "url": f"{self_url}?{urlencode(params)}"})
    bundle = {"resourceType": "Bundle", "type": "history", "link": links,
              "entry": [_entry(v, base) for v in page]}
    if resource_id:
        bundle["total"] = len(versions) if not more and cursor is None else None
        if bundle["total"] is None:
            del bundle["total"]
    return FhirResponse(bundle)


def _entry(version: Version, base: str) -> dict[str, Any]:
    url = f"{version.resource_type}/{version.id}"
    entry: dict[str, Any] = {"fullUrl": f"{base}/{url}"}
    if version.resource is not None:
        entry["resource"] = version.resource
        method = "POST" if version.vid == 1 else "PUT"
        status = "201 Created" if version.vid == 1 else "200 OK"
    else:
        method, status = "DELETE", "204 No Content"
    entry["request"] = {"method": method, "url": url if method != "POST" else version.resource_type}
    entry["response"] = {"status": status, "etag": version.etag, "lastModified": instant(version.last_updated)}
    return entry
