"""Medications: MedicationRequests and MedicationStatements, what is taken now apart from
what was taken before, each with its dose and instructions in words.

A medication named by reference takes the Reference's display, else the Medication's code
(read in one ``_id`` search for the whole list, never one read per row).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhir_server.portal.health.dates import clinical_date, short_date
from fhir_server.portal.health.labs import concept_text, quantity_text
from fhir_server.portal.health.records import matches, search_all, search_page
from fhir_server.portal.record.common import ids_of, read_many, reference_name, words
from fhir_server.portal.viewing import Viewing
from fhir_server.services import Services

KINDS = ("MedicationRequest", "MedicationStatement")
CURRENT = {"active", "on-hold", "intended"}
HIDDEN = {"entered-in-error", "draft"}
UNITS = {"h": "hour", "d": "day", "wk": "week", "mo": "month"}


@dataclass(frozen=True)
class Medication:
    ref: str  # "MedicationRequest/abc": what a refill request names
    name: str
    dose: str  # "1 tablet by mouth once daily"
    instructions: str  # "Take with food."
    status: str
    prescriber: str
    since: str
    since_iso: str
    current: bool


def dose_text(dosage: dict[str, Any]) -> str:
    """One Dosage as words: its text when the prescriber wrote one, else amount, route, timing."""
    if dosage.get("text"):
        return str(dosage["text"])
    parts: list[str] = []
    for rate in dosage.get("doseAndRate", []):
        if rate.get("doseQuantity"):
            parts.append(quantity_text(rate["doseQuantity"]))
        elif rate.get("doseRange"):
            low, high = rate["doseRange"].get("low", {}), rate["doseRange"].get("high", {})
            parts.append(f"{quantity_text(low)}–{quantity_text(high)}")
    route = concept_text(dosage.get("route"))
    if route:
        parts.append(route.lower())
    timing = dosage.get("timing", {})
    if timing.get("code"):
        parts.append(concept_text(timing["code"]))
    else:
        repeat = timing.get("repeat", {})
        if repeat.get("frequency") and repeat.get("period") and repeat.get("periodUnit"):
            unit = UNITS.get(repeat["periodUnit"], repeat["periodUnit"])
            times = {1: "once", 2: "twice"}.get(repeat["frequency"], f"{repeat['frequency']} times")
            every = f"every {repeat['period']} {unit}s" if repeat["period"] != 1 else f"a {unit}"
            parts.append(f"{times} {every}")
    if dosage.get("asNeededBoolean") or dosage.get("asNeededCodeableConcept"):
        parts.append("as needed")
    return " ".join(p for p in parts if p)


def name_of(resource: dict[str, Any], catalogue: dict[str, dict[str, Any]]) -> str:
    if resource.get("medicationCodeableConcept"):
        return concept_text(resource["medicationCodeableConcept"]) or "Unnamed medication"
    ref = resource.get("medicationReference") or {}
    if reference_name(ref):
        return reference_name(ref)
    found = [catalogue[i] for i in ids_of([ref], "Medication") if i in catalogue]
    return (concept_text(found[0].get("code")) if found else "") or "Unnamed medication"


def to_medication(resource: dict[str, Any], catalogue: dict[str, dict[str, Any]]) -> Medication:
    kind = resource["resourceType"]
    dosages = resource.get("dosageInstruction" if kind == "MedicationRequest" else "dosage", [])
    instructions = [str(d["patientInstruction"]) for d in dosages if d.get("patientInstruction")]
    instructions += [concept_text(a) for d in dosages for a in d.get("additionalInstruction", [])]
    if resource.get("note"):
        instructions += [str(n.get("text")) for n in resource["note"] if n.get("text")]
    status = str(resource.get("status", ""))
    since = clinical_date(resource, fields=("authoredOn", "effectiveDateTime", "effectivePeriod.start",
                                            "dateAsserted")) or ""
    who = resource.get("requester") if kind == "MedicationRequest" else resource.get("informationSource")
    return Medication(ref=f"{kind}/{resource.get('id')}", name=name_of(resource, catalogue),
                      dose="; ".join(t for t in (dose_text(d) for d in dosages) if t),
                      instructions=" ".join(instructions), status=words(status), prescriber=reference_name(who),
                      since=short_date(since), since_iso=since, current=status in CURRENT)


async def load(services: Services, view: Viewing) -> dict[str, Any]:
    resources = [r for kind in KINDS async for r in search_all(services, view, kind, [])
                 if r.get("status") not in HIDDEN]
    catalogue = await read_many(services, view, "Medication",
                                ids_of([r.get("medicationReference") for r in resources
                                        if not reference_name(r.get("medicationReference"))], "Medication"))
    meds = sorted((to_medication(r, catalogue) for r in resources), key=lambda m: m.since_iso, reverse=True)
    return {"current": [m for m in meds if m.current], "past": [m for m in meds if not m.current],
            "entities": [m.ref for m in meds]}


async def refill_of(services: Services, view: Viewing, ref: str) -> Medication | None:
    """The current medication ``ref`` names in the patient in view's record, or None (one search)."""
    kind, _, med_id = ref.partition("/")
    if kind not in KINDS or not med_id or "," in med_id:
        return None
    found = matches(await search_page(services, view, kind, [("_id", med_id)]))
    if not found or found[0].get("status") in HIDDEN:
        return None
    catalogue = await read_many(services, view, "Medication", ids_of([found[0].get("medicationReference")],
                                                                     "Medication"))
    medication = to_medication(found[0], catalogue)
    return medication if medication.current else None
