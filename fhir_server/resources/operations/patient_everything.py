"""Patient $everything — http://hl7.org/fhir/OperationDefinition/Patient-everything

The patient's compartment, type by type, then the Practitioners, Organizations, Locations
and Medications it refers to. Each type is read with the search engine (so the caller's
scope and SMART query restrictions apply exactly as to a search) and paged by keyset:
the cursor names the type and the search cursor inside it, so no resource repeats across
pages. This is plain logic (no HTTP): the portal's download streams it page by page.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from fhir_server.resources import search as search_engine
from fhir_server.resources.errors import bad_request
from fhir_server.resources.references import referenced_ids
from fhir_server.resources.search import PATIENT_COMPARTMENT, SearchScope
from fhir_server.resources.search.shaping import matches, next_cursor

REFERENCED_TYPES = ("Practitioner", "PractitionerRole", "Organization", "Location", "Medication")
MAX_COUNT = 1000
# In the compartment, but not the record: the log of who looked at it grows with every look, so
# it comes only when ``_type`` asks for it (else each $everything would make the next one larger).
ON_REQUEST_ONLY = frozenset({"AuditEvent"})


def compartment_types(types: list[str] | None = None) -> list[str]:
    """The compartment's types in $everything order; ``types`` is the request's ``_type``."""
    return ["Patient", *sorted(t for t in PATIENT_COMPARTMENT
                               if t != "Patient" and (t not in ON_REQUEST_ONLY or (types and t in types)))]


@dataclass
class Page:
    resources: list[dict[str, Any]]
    next_cursor: str | None


def _encode(phase: int, type_index: int, inner: str | None) -> str:
    return base64.urlsafe_b64encode(json.dumps([phase, type_index, inner]).encode()).decode()


def _decode(cursor: str) -> tuple[int, int, str | None]:
    try:
        phase, type_index, inner = json.loads(base64.urlsafe_b64decode(cursor))
        return int(phase), int(type_index), inner
    except (ValueError, TypeError):
        raise bad_request("_cursor is not one this server issued.", ["_cursor"]) from None


async def everything_page(db: AsyncDatabase, patient_id: str, *, base_url: str,
                          scope_for: Callable[[str], SearchScope | None], since: str | None = None,
                          types: list[str] | None = None, count: int = 100,
                          cursor: str | None = None) -> Page:
    """One page of $everything. ``scope_for(type)`` is the caller's scope, or None if the
    caller may not read that type (then it is left out, as the operation allows)."""
    count = max(1, min(count, MAX_COUNT))
    phase, type_index, inner = _decode(cursor) if cursor else (0, 0, None)
    out: list[dict[str, Any]] = []
    existing = set(await db.list_collection_names())
    referenced: dict[str, set[str]] | None = None  # read once per page, when the page gets there
    # A page that reads the whole compartment (from its start, every type, every version date)
    # finds what it refers to in what it read; any other page reads the compartment again.
    whole_compartment = cursor is None and not types and not since
    while phase < 2 and len(out) < count:
        phase_types = compartment_types(types) if phase == 0 else list(REFERENCED_TYPES)
        if type_index >= len(phase_types):
            phase, type_index, inner = phase + 1, 0, None
            continue
        resource_type = phase_types[type_index]
        scope = scope_for(resource_type) if resource_type in existing else None
        if scope is None or (types and resource_type not in types):
            type_index, inner = type_index + 1, None
            continue
        params: list[tuple[str, str]] = [("_count", str(count - len(out))), ("_total", "none")]
        if phase == 1:
            if referenced is None:
                referenced = (referenced_ids(out, base_url, REFERENCED_TYPES) if whole_compartment
                              else await _referenced_ids(db, patient_id, existing, base_url, scope_for, types))
            if not referenced.get(resource_type):
                type_index, inner = type_index + 1, None
                continue
            params.append(("_id", ",".join(sorted(referenced[resource_type]))))
        if since:
            params.append(("_lastUpdated", f"ge{since}"))
        if inner:
            params.append(("_cursor", inner))
        bundle = await search_engine.search(
            db, resource_type, params, base_url=base_url, scope=scope,
            compartment=("Patient", patient_id) if phase == 0 else None)
        out.extend(matches(bundle))
        inner = next_cursor(bundle)
        if inner is None:
            type_index += 1
    done = phase >= 2
    return Page(out, None if done else _encode(phase, type_index, inner))


async def all_patients_page(db: AsyncDatabase, *, base_url: str, scope_for: Callable[[str], SearchScope | None],
                            since: str | None = None, types: list[str] | None = None, count: int = 100,
                            cursor: str | None = None) -> Page:
    """One page of the type-level ``Patient/$everything``: patient after patient (in id order,
    found with the search engine's keyset paging), each one's $everything in turn."""
    count = max(1, min(count, MAX_COUNT))
    patients_cursor, current, inner = _decode_all(cursor) if cursor else (None, None, None)
    patient_scope = scope_for("Patient")
    out: list[dict[str, Any]] = []
    while len(out) < count and patient_scope is not None:
        if current is None:
            params = [("_count", "1"), ("_sort", "_id"), ("_total", "none"), ("_elements", "id")]
            if patients_cursor:
                params.append(("_cursor", patients_cursor))
            bundle = await search_engine.search(db, "Patient", params, base_url=base_url, scope=patient_scope)
            found = [resource["id"] for resource in matches(bundle)]
            if not found:
                return Page(out, None)
            current, inner, patients_cursor = found[0], None, next_cursor(bundle)
        page = await everything_page(db, current, base_url=base_url, scope_for=scope_for, since=since, types=types,
                                     count=count - len(out), cursor=inner)
        out.extend(page.resources)
        inner = page.next_cursor
        if inner is None:
            current = None
            if patients_cursor is None:
                return Page(out, None)
    return Page(out, _encode_all(patients_cursor, current, inner))


def _encode_all(patients_cursor: str | None, current: str | None, inner: str | None) -> str:
    return base64.urlsafe_b64encode(json.dumps(["all", patients_cursor, current, inner]).encode()).decode()


def _decode_all(cursor: str) -> tuple[str | None, str | None, str | None]:
    try:
        tag, patients_cursor, current, inner = json.loads(base64.urlsafe_b64decode(cursor))
    except (ValueError, TypeError):
        raise bad_request("_cursor is not one this server issued.", ["_cursor"]) from None
    if tag != "all":
        raise bad_request("_cursor is not one this server issued.", ["_cursor"])
    return patients_cursor, current, inner


async def _referenced_ids(db: AsyncDatabase, patient_id: str, existing: set[str], base_url: str,
                          scope_for: Callable[[str], SearchScope | None],
                          types: list[str] | None) -> dict[str, set[str]]:
    """What the patient's whole compartment refers to, read again: one indexed query per
    compartment type (whole documents: on the embedded database a projection costs more)."""
    found: dict[str, set[str]] = {t: set() for t in REFERENCED_TYPES}
    for resource_type in compartment_types(types):
        if resource_type not in existing or scope_for(resource_type) is None:
            continue
        async for doc in db[resource_type].find({"comp": patient_id}):
            referenced_ids([doc["res"]], base_url, REFERENCED_TYPES, found)
    return found


async def iterate_everything(db: AsyncDatabase, patient_id: str, *, base_url: str,
                             scope_for: Callable[[str], SearchScope | None], since: str | None = None,
                             page_size: int = 500) -> AsyncIterator[dict[str, Any]]:
    """Every resource of $everything, page by page: memory stays at one page."""
    cursor: str | None = None
    while True:
        page = await everything_page(db, patient_id, base_url=base_url, scope_for=scope_for,
                                     since=since, count=page_size, cursor=cursor)
        for resource in page.resources:
            yield resource
        if page.next_cursor is None:
            return
        cursor = page.next_cursor
