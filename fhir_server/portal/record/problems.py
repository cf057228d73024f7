"""Problems: the patient's Conditions, current ones apart from resolved and inactive ones.

Current means clinicalStatus active, recurrence or relapse (or none given); the FHIR
hierarchy puts remission and resolved under inactive, so they are listed as past, each with
its status in words. Entered-in-error and refuted entries are never shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhir_server.portal.health.dates import clinical_date, short_date
from fhir_server.portal.health.labs import concept_text
from fhir_server.portal.health.records import search_all
from fhir_server.portal.record.common import code_of, reference_name, status_words
from fhir_server.portal.viewing import Viewing
from fhir_server.services import Services

CURRENT = {"active", "recurrence", "relapse", ""}
HIDDEN = {"entered-in-error", "refuted"}


@dataclass(frozen=True)
class Problem:
    id: str
    name: str
    status: str  # "Active", "Remission"…
    onset: str  # "Jun 14, 2017" or the onset as written ("In childhood")
    onset_iso: str
    resolved: str
    recorder: str
    detail: str  # stage, body site, severity as words
    current: bool


def onset_of(condition: dict[str, Any]) -> str:
    if condition.get("onsetString"):
        return str(condition["onsetString"])
    if condition.get("onsetAge"):
        return f"Age {condition['onsetAge'].get('value')}"
    return clinical_date(condition, fields=("onsetDateTime", "onsetPeriod.start")) or ""


def to_problem(condition: dict[str, Any]) -> Problem:
    status = code_of(condition.get("clinicalStatus"))
    onset = onset_of(condition)
    resolved = clinical_date(condition, fields=("abatementDateTime", "abatementPeriod.start")) or \
        str(condition.get("abatementString") or "")
    details = [concept_text(s.get("summary")) for s in condition.get("stage", [])]
    details += [concept_text(condition.get("severity"))]
    details += [concept_text(b) for b in condition.get("bodySite", [])]
    return Problem(id=str(condition.get("id")), name=concept_text(condition.get("code")) or "Unnamed problem",
                   status=status_words(condition.get("clinicalStatus")) or "Active", onset=short_date(onset),
                   onset_iso=onset if onset[:1].isdigit() else "", resolved=short_date(resolved),
                   recorder=reference_name(condition.get("recorder") or condition.get("asserter")),
                   detail=" · ".join(d for d in details if d), current=status in CURRENT)


def visible(condition: dict[str, Any]) -> bool:
    return code_of(condition.get("verificationStatus")) not in HIDDEN


async def load(services: Services, view: Viewing) -> dict[str, Any]:
    conditions = [c async for c in search_all(services, view, "Condition", []) if visible(c)]
    problems = sorted((to_problem(c) for c in conditions), key=lambda p: p.onset_iso, reverse=True)
    return {"current": [p for p in problems if p.current], "past": [p for p in problems if not p.current],
            "entities": [f"Condition/{p.id}" for p in problems]}
