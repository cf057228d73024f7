"""The readable summary of the record: demographics, labs with history, documents, messages.

Four searches (labs, reports, documents, messages), each followed page by page, all under
the one door and inside the optional period; the page is printable (``health-print.css``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhir_server.portal.health import documents, labs, records
from fhir_server.portal.health.dates import Period, short_date
from fhir_server.portal.record import summary as record_summary
from fhir_server.portal.viewing import Viewing
from fhir_server.services import Services


@dataclass(frozen=True)
class Message:
    id: str
    when: str
    subject: str
    sender: str
    recipients: str
    category: str
    text: str


def demographics(patient: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) rows for the patient in view."""
    rows: list[tuple[str, str]] = []
    if patient.get("birthDate"):
        rows.append(("Date of birth", short_date(str(patient["birthDate"]))))
    if patient.get("gender"):
        rows.append(("Gender", str(patient["gender"]).capitalize()))
    for identifier in patient.get("identifier", []):
        label = labs.concept_text(identifier.get("type")) or "Identifier"
        if identifier.get("value"):
            rows.append((label, str(identifier["value"])))
    for telecom in patient.get("telecom", []):
        if telecom.get("value"):
            rows.append((str(telecom.get("system", "contact")).capitalize(), str(telecom["value"])))
    for address in patient.get("address", []):
        parts = [*address.get("line", []), address.get("city"), address.get("state"), address.get("postalCode")]
        text = address.get("text") or ", ".join(str(p) for p in parts if p)
        if text:
            rows.append(("Address", str(text)))
    return rows


def to_message(resource: dict[str, Any]) -> Message:
    def who(ref: dict[str, Any] | None) -> str:
        return str((ref or {}).get("display") or (ref or {}).get("reference") or "")

    text = "\n".join(str(p.get("contentString", "")) for p in resource.get("payload", []) if p.get("contentString"))
    return Message(id=str(resource.get("id")), when=short_date(str(resource.get("sent") or "")),
                   subject=labs.concept_text(resource.get("topic")) or "(no subject)",
                   sender=who(resource.get("sender")),
                   recipients=", ".join(who(r) for r in resource.get("recipient", [])),
                   category=", ".join(labs.concept_text(c) for c in resource.get("category", [])), text=text)


async def gather(services: Services, view: Viewing, period: Period) -> dict[str, Any]:
    """Everything the summary page shows, as template context."""
    observations, reports = await records.lab_data(services, view, period.search_params("date"))
    doc_params = [("status", "current"), ("_sort", "-date"), *period.search_params("date")]
    docs = [documents.to_doc(r) async for r in records.search_all(services, view, "DocumentReference", doc_params)]
    messages = [to_message(r) async for r in records.search_all(
        services, view, "Communication", [("_sort", "-sent"), *period.search_params("sent")])]
    entities = [f"Patient/{view.patient_id}"] + [f"DocumentReference/{d.id}" for d in docs[:20]]
    panels = labs.by_panel(labs.group_tests(observations, reports))
    sections = await record_summary.gather(services, view, period)  # problems, medications, vitals…
    return {"demographics": demographics(view.patient), "panels": panels, "documents": docs, "messages": messages,
            "entities": entities + sections["record_entities"], "record": sections["record"],
            "counts": {"labs": len(observations), "documents": len(docs), "messages": len(messages)}}
