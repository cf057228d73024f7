"""The patient's record as a FHIR Bundle, streamed.

Type ``collection`` (a set of resources kept together, not a search result): the entries of
Patient ``$everything`` (the compartment, then the practitioners and organisations it refers
to), read through ``iterate_everything`` under the one door, so the download holds exactly
what the API's ``$everything`` gives this caller (which leaves out AuditEvents, the log of
who looked at the record, unless ``_type`` asks for them).
Written page by page: a 10,000-resource record never sits in memory at once.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from fhir_server.access import search_scope
from fhir_server.portal.health.dates import Period
from fhir_server.portal.viewing import Viewing
from fhir_server.resources.errors import FhirError
from fhir_server.resources.operations.patient_everything import iterate_everything
from fhir_server.resources.search import SearchScope
from fhir_server.services import Services

PAGE_SIZE = 500


def scope_for(view: Viewing) -> Any:
    def scope(resource_type: str) -> SearchScope | None:
        try:
            return search_scope(view.caller, resource_type, "r")
        except FhirError:
            return None

    return scope


async def record_resources(services: Services, view: Viewing, period: Period) -> AsyncIterator[dict[str, Any]]:
    """The record in $everything order, inside ``period`` by clinical date (undated resources always)."""
    async for resource in iterate_everything(services.db.db, view.patient_id, base_url=services.settings.fhir_base,
                                             scope_for=scope_for(view), page_size=PAGE_SIZE):
        if period.holds(resource):
            yield resource


async def bundle_chunks(services: Services, view: Viewing, period: Period) -> AsyncIterator[bytes]:
    """The Bundle's JSON, a few bytes of framing and then one entry at a time."""
    base = services.settings.fhir_base
    stamp = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    yield (f'{{"resourceType":"Bundle","id":"{uuid.uuid4()}","meta":{{"lastUpdated":"{stamp}"}},'
           f'"type":"collection","timestamp":"{stamp}","entry":[').encode()
    first = True
    async for resource in record_resources(services, view, period):
        entry = {"fullUrl": f"{base}/{resource['resourceType']}/{resource['id']}", "resource": resource}
        yield (b"" if first else b",\n") + json.dumps(entry, separators=(",", ":"), ensure_ascii=False).encode()
        first = False
    yield b"]}\n"


def file_name(view: Viewing, period: Period) -> str:
    span = f"-{period.start or 'start'}-to-{period.end or 'today'}" if period.any else ""
    return f"health-record-{view.patient_id}{span}.json"
