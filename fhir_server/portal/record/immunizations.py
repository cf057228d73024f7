"""Immunizations: the vaccines given, newest first, with dose number and where they were
given; those recorded as not done say so."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhir_server.portal.health.dates import clinical_date, short_date
from fhir_server.portal.health.labs import concept_text
from fhir_server.portal.health.records import search_all
from fhir_server.portal.record.common import reference_name
from fhir_server.portal.viewing import Viewing
from fhir_server.services import Services


@dataclass(frozen=True)
class Immunization:
    id: str
    vaccine: str
    date: str
    when: str
    dose: str  # "Dose 2 of 3"
    given_by: str
    not_done: bool


def dose_of(resource: dict[str, Any]) -> str:
    for applied in resource.get("protocolApplied", []):
        number = applied.get("doseNumberPositiveInt") or applied.get("doseNumberString")
        total = applied.get("seriesDosesPositiveInt") or applied.get("seriesDosesString")
        if number:
            return f"Dose {number} of {total}" if total else f"Dose {number}"
    return ""


def to_immunization(resource: dict[str, Any]) -> Immunization:
    date = clinical_date(resource, fields=("occurrenceDateTime", "recorded")) or \
        str(resource.get("occurrenceString") or "")
    given_by = next((reference_name(p.get("actor")) for p in resource.get("performer", [])
                     if reference_name(p.get("actor"))), "") or reference_name(resource.get("location"))
    return Immunization(id=str(resource.get("id")), vaccine=concept_text(resource.get("vaccineCode")) or "Vaccine",
                        date=date if date[:1].isdigit() else "", when=short_date(date), dose=dose_of(resource),
                        given_by=given_by, not_done=resource.get("status") == "not-done")


async def load(services: Services, view: Viewing) -> dict[str, Any]:
    shots = [to_immunization(r) async for r in search_all(services, view, "Immunization", [])
             if r.get("status") != "entered-in-error"]
    shots.sort(key=lambda i: i.date, reverse=True)
    return {"immunizations": shots, "entities": [f"Immunization/{i.id}" for i in shots]}
