"""Helpers the interaction routes share: type checks, matching for conditional interactions,
and auditing a response's patients."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fhir_server import audit
from fhir_server.access import Caller, search_scope
from fhir_server.resources import search as search_engine
from fhir_server.resources.errors import FhirError
from fhir_server.resources.reading import read_visible as read_visible
from fhir_server.resources.search import patient_compartments
from fhir_server.resources.validation import check_type
from fhir_server.services import Services


def known_type(resource_type: str) -> str:
    check_type(resource_type)
    return resource_type


async def find_matching(services: Services, caller: Caller, resource_type: str, query: str,
                        *, limit: int = 2) -> list[dict[str, Any]]:
    """The resources a conditional interaction's search criteria select (up to ``limit``)."""
    params = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if not k.startswith("_count")]
    if not params:
        raise FhirError(400, "invalid", "A conditional interaction needs search criteria.")
    bundle = await search_engine.search(services.db.db, resource_type, [*params, ("_count", str(limit))],
                          base_url=services.settings.fhir_base,
                          scope=search_scope(caller, resource_type), strict=True)
    return [e["resource"] for e in bundle.get("entry", [])
            if e.get("search", {}).get("mode", "match") == "match"]


def patients_of(resources: list[dict[str, Any]], base_url: str) -> set[str]:
    found: set[str] = set()
    for resource in resources:
        found.update(patient_compartments(resource, base_url))
    return found


async def audit_access(services: Services, caller: Caller, interaction: str,
                       resources: list[dict[str, Any]], patients: list[str] | None = None) -> None:
    """``patients``: the resources' compartments when already known (as stored with a read)."""
    if patients is None:
        patients = list(patients_of(resources, services.settings.fhir_base))
    refs = [f"{r['resourceType']}/{r['id']}" for r in resources if r.get("id")]
    await audit.record(services.store, caller, interaction, patients=patients, entities=refs)
