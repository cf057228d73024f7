"""Visits: upcoming Appointments (soonest first) and past Encounters (newest first), each
encounter with its visit notes — the DocumentReferences whose ``context.encounter`` points
to it, found in one indexed search for all the encounters on the page."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from fhir_server import timefmt
from fhir_server.portal.health import documents
from fhir_server.portal.health.labs import concept_text
from fhir_server.portal.health.records import search_all
from fhir_server.portal.record.common import ids_of, reference_name, words
from fhir_server.portal.viewing import Viewing
from fhir_server.services import Services

UPCOMING = {"proposed", "pending", "booked", "arrived", "checked-in", "waitlist"}
HIDDEN = {"entered-in-error", "cancelled"}
NOTE_BATCH = 100  # encounter references per notes search (one query each)


@dataclass(frozen=True)
class Appointment:
    id: str
    what: str
    start: str
    when: str  # "Dec 3, 2026, 9:30 AM" in the practice's zone
    with_whom: str
    where: str
    status: str
    instructions: str


@dataclass
class Visit:
    id: str
    what: str
    start: str
    when: str
    with_whom: str
    where: str
    reason: str
    status: str
    notes: list[documents.Doc] = field(default_factory=list)


def moment_text(stamp: str, zone: tzinfo = UTC) -> str:
    """A date with its time when it has one, in the portal's one style (pages use the
    ``time_tag`` filter, which shows it in the practice's or the browser's zone)."""
    return timefmt.moment(stamp, zone)


def to_appointment(resource: dict[str, Any]) -> Appointment:
    people = [reference_name(p.get("actor")) for p in resource.get("participant", [])
              if "Patient/" not in str((p.get("actor") or {}).get("reference", ""))]
    places = [p for p in people if p and any(w in p.lower() for w in ("clinic", "room", "center", "centre"))]
    what = str(resource.get("description") or "") or concept_text(resource.get("appointmentType")) or \
        ", ".join(concept_text(s) for s in resource.get("serviceType", [])) or "Appointment"
    start = str(resource.get("start") or "")
    return Appointment(id=str(resource.get("id")), what=what, start=start, when=moment_text(start),
                       with_whom=", ".join(p for p in people if p and p not in places), where=", ".join(places),
                       status=words(str(resource.get("status", ""))),
                       instructions=str(resource.get("patientInstruction") or resource.get("comment") or ""))


def to_visit(resource: dict[str, Any]) -> Visit:
    start = str((resource.get("period") or {}).get("start") or "")
    kinds = [concept_text(t) for t in resource.get("type", [])]
    what = next((k for k in kinds if k), "") or str((resource.get("class") or {}).get("display") or "") or "Visit"
    people = [reference_name(p.get("individual")) for p in resource.get("participant", [])]
    places = [reference_name(loc.get("location")) for loc in resource.get("location", [])]
    reasons = [concept_text(r) for r in resource.get("reasonCode", [])] + \
        [reference_name(r) for r in resource.get("reasonReference", [])]
    return Visit(id=str(resource.get("id")), what=what, start=start, when=moment_text(start),
                 with_whom=", ".join(p for p in people if p), where=", ".join(p for p in places if p) or
                 reference_name(resource.get("serviceProvider")), reason=", ".join(r for r in reasons if r),
                 status=words(str(resource.get("status", ""))))


async def notes_by_visit(services: Services, view: Viewing, visits: list[Visit]) -> None:
    """Attach each visit's current notes: one search per ``NOTE_BATCH`` encounters."""
    by_id = {v.id: v for v in visits}
    ids = list(by_id)
    for first in range(0, len(ids), NOTE_BATCH):
        chunk = ",".join(f"Encounter/{i}" for i in ids[first:first + NOTE_BATCH])
        async for resource in search_all(services, view, "DocumentReference",
                                         [("encounter", chunk), ("status", "current"), ("_sort", "-date")]):
            doc = documents.to_doc(resource)
            for encounter in ids_of((resource.get("context") or {}).get("encounter", []), "Encounter"):
                if encounter in by_id:
                    by_id[encounter].notes.append(doc)


async def load(services: Services, view: Viewing, now: datetime | None = None) -> dict[str, Any]:
    today = (now or datetime.now(UTC)).date().isoformat()
    appointments = [to_appointment(r) async for r in search_all(services, view, "Appointment",
                                                                [("date", f"ge{today}"), ("_sort", "date")])
                    if r.get("status") in UPCOMING]
    visits = [to_visit(r) async for r in search_all(services, view, "Encounter", [("_sort", "-date")])
              if r.get("status") not in HIDDEN and r.get("status") not in ("planned", "arrived", "triaged")]
    await notes_by_visit(services, view, visits)
    entities = [f"Appointment/{a.id}" for a in appointments] + [f"Encounter/{v.id}" for v in visits] + \
        [f"DocumentReference/{d.id}" for v in visits for d in v.notes]
    return {"upcoming": appointments, "past": visits, "entities": entities}
