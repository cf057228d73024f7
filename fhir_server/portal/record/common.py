"""Small readers shared by the record sections: words for codes, names for references, and
reading reference data (Organizations, Medications…) by id through the one door."""

from __future__ import annotations

from typing import Any

from fhir_server.access import search_scope
from fhir_server.portal.health.records import matches
from fhir_server.portal.viewing import Viewing
from fhir_server.resources import search as search_engine
from fhir_server.services import Services

ERROR_STATUSES = {"entered-in-error"}


def code_of(concept: dict[str, Any] | None) -> str:
    """The first code of a CodeableConcept (``clinicalStatus`` → ``active``), lower-cased."""
    for coding in (concept or {}).get("coding", []):
        if coding.get("code"):
            return str(coding["code"]).lower()
    return str((concept or {}).get("text", "")).lower()


def words(code: str) -> str:
    """``on-hold`` → ``On hold``: FHIR status codes read as words."""
    return code.replace("-", " ").capitalize() if code else ""


def status_words(concept: dict[str, Any] | None) -> str:
    """A status as written for people (its text or display), else its code as a word."""
    concept = concept or {}
    display = next((str(c["display"]) for c in concept.get("coding", []) if c.get("display")), "")
    return str(concept.get("text") or "") or display or words(code_of(concept))


def reference_name(ref: dict[str, Any] | None) -> str:
    """What a Reference says about its target: the display, else nothing (never a raw id)."""
    return str((ref or {}).get("display") or "")


def ids_of(refs: list[dict[str, Any] | None], resource_type: str) -> list[str]:
    """The ids of ``Type/id`` references to ``resource_type`` (relative or absolute)."""
    out: list[str] = []
    for ref in refs:
        target = str((ref or {}).get("reference", ""))
        head, _, tail = target.rpartition("/")
        if tail and head.rsplit("/", 1)[-1] == resource_type and tail not in out:
            out.append(tail)
    return out


async def read_many(services: Services, view: Viewing, resource_type: str, ids: list[str]) -> dict[str, dict]:
    """Reference data (outside any patient compartment) by id: one indexed ``_id`` search."""
    if not ids:
        return {}
    bundle = await search_engine.search(services.db.db, resource_type,
                                        [("_id", ",".join(ids[:200])), ("_count", "200")],
                                        base_url=services.settings.fhir_base,
                                        scope=search_scope(view.caller, resource_type))
    return {str(r.get("id")): r for r in matches(bundle)}
