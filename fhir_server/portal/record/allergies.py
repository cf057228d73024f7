"""Allergies: AllergyIntolerances with what happens (reactions and their severity) and how
serious the risk is (criticality), current ones first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhir_server.portal.health.dates import clinical_date, short_date
from fhir_server.portal.health.labs import concept_text
from fhir_server.portal.health.records import search_all
from fhir_server.portal.record.common import code_of, status_words, words
from fhir_server.portal.viewing import Viewing
from fhir_server.services import Services

CRITICALITY = {"high": "High risk", "low": "Low risk", "unable-to-assess": "Risk not assessed"}
HIDDEN = {"entered-in-error", "refuted"}


@dataclass(frozen=True)
class Allergy:
    id: str
    substance: str
    kind: str  # "Medication allergy", "Food intolerance"…
    reactions: list[str]  # "Hives (moderate)"
    criticality: str
    high_risk: bool
    status: str
    recorded: str
    current: bool


def reaction_text(reaction: dict[str, Any]) -> str:
    signs = ", ".join(t for t in (concept_text(m) for m in reaction.get("manifestation", [])) if t) or \
        str(reaction.get("description") or "")
    severity = str(reaction.get("severity") or "")
    return f"{signs} ({severity})" if signs and severity else signs


def to_allergy(resource: dict[str, Any]) -> Allergy:
    substance = concept_text(resource.get("code")) or next(
        (concept_text(r.get("substance")) for r in resource.get("reaction", []) if r.get("substance")), "")
    category = ", ".join(resource.get("category", []))
    kind = f"{category.capitalize()} {resource.get('type', 'allergy')}".strip() if category else \
        words(str(resource.get("type", "")))
    status = code_of(resource.get("clinicalStatus"))
    criticality = str(resource.get("criticality") or "")
    return Allergy(id=str(resource.get("id")), substance=substance or "Unnamed substance", kind=kind,
                   reactions=[t for t in (reaction_text(r) for r in resource.get("reaction", [])) if t],
                   criticality=CRITICALITY.get(criticality, ""), high_risk=criticality == "high",
                   status=status_words(resource.get("clinicalStatus")) or "Active",
                   recorded=short_date(clinical_date(resource, fields=("recordedDate", "onsetDateTime"))),
                   current=status in ("", "active"))


async def load(services: Services, view: Viewing) -> dict[str, Any]:
    found = [to_allergy(r) async for r in search_all(services, view, "AllergyIntolerance", [])
             if code_of(r.get("verificationStatus")) not in HIDDEN]
    found.sort(key=lambda a: (not a.current, not a.high_risk, a.substance.lower()))
    return {"allergies": found, "entities": [f"AllergyIntolerance/{a.id}" for a in found]}
