"""Reading the patient in view's data for the health pages: always through the FHIR search
engine under the one door's scope, a bounded number of indexed queries per page."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fhir_server.access import search_scope
from fhir_server.portal.viewing import Viewing
from fhir_server.resources import search as search_engine
from fhir_server.services import Services

PAGE = 1000  # the engine's largest page: a 20-year history is a few round trips of one query


def cursor_of(bundle: dict[str, Any], relation: str = "next") -> str | None:
    """The ``_cursor`` of a searchset's next (or previous) link."""
    for link in bundle.get("link", []):
        if link.get("relation") == relation:
            return parse_qs(urlsplit(link["url"]).query).get("_cursor", [None])[0]
    return None


def matches(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", []) if e.get("search", {}).get("mode", "match") == "match"
            and e.get("resource", {}).get("resourceType") != "OperationOutcome"]


async def search_page(services: Services, view: Viewing, resource_type: str,
                      params: list[tuple[str, str]]) -> dict[str, Any]:
    """One searchset page of ``resource_type`` in the patient in view's compartment."""
    return await search_engine.search(services.db.db, resource_type, [("patient", view.patient_id), *params],
                                      base_url=services.settings.fhir_base,
                                      scope=search_scope(view.caller, resource_type))


async def search_all(services: Services, view: Viewing, resource_type: str,
                     params: list[tuple[str, str]]) -> AsyncIterator[dict[str, Any]]:
    """Every match of one search, following the next cursor page by page (one query per page)."""
    cursor: str | None = None
    while True:
        extra = [("_cursor", cursor)] if cursor else []
        bundle = await search_page(services, view, resource_type,
                                   [*params, ("_count", str(PAGE)), ("_total", "none"), *extra])
        for resource in matches(bundle):
            yield resource
        cursor = cursor_of(bundle)
        if cursor is None:
            return


async def lab_data(services: Services, view: Viewing,
                   period: Sequence[tuple[str, str]] = ()) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The laboratory Observations (newest first) and the DiagnosticReports that group them."""
    observations = [o async for o in search_all(services, view, "Observation",
                                                [("category", "laboratory"), ("_sort", "-date"), *period])]
    reports = [r async for r in search_all(services, view, "DiagnosticReport",
                                           [("_sort", "-date"), *period])]
    return observations, reports
