"""The record of a period as one FHIR Bundle (type ``collection``), read through the search
engine and the one door exactly as the REST API would read it for the same caller.

What goes in: the patient's Observations (labs and vitals) and DiagnosticReports (by effective
date), DocumentReferences (by date, with the content of attachments kept in a Binary inlined),
Communications (by sent date), Immunizations and Encounters of the period; the Conditions,
medications, allergies and care teams as they stand; the Patient, and the Practitioners,
PractitionerRoles and Organizations those resources refer to. The Bundle is validated with
the R4B models before it is encrypted.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from fhir_server.access import Caller, check_resource, search_scope
from fhir_server.binary_context import binary_id, binary_serves
from fhir_server.resources.errors import FhirError
from fhir_server.resources.references import referenced_ids
from fhir_server.resources.search import patient_compartments
from fhir_server.resources.search.execute import every_page
from fhir_server.resources.store import instant
from fhir_server.services import Services

# Type → the search parameter that places it in time.
PERIOD_TYPES = {"Observation": "date", "DiagnosticReport": "date", "DocumentReference": "date",
                "Communication": "sent", "Immunization": "date", "Encounter": "date"}
# What the record says stands now, whatever the period: the recipient needs the problem list,
# medications, allergies and care team to read the period's results safely.
STATE_TYPES = ("Condition", "MedicationRequest", "MedicationStatement", "AllergyIntolerance", "CareTeam")
HIDDEN_STATUSES = {"entered-in-error"}
REFERENCED_TYPES = ("Practitioner", "PractitionerRole", "Organization")
PAGE = 1000
# The sender's note to the recipient travels inside the encrypted Bundle as a Communication
# marked with this category, so the recipient reads it beside the record (the viewer shows it
# apart from the practice's messages).
NOTE_CATEGORY = {"system": "https://carespace.dev/fhir/CodeSystem/shared-record", "code": "note",
                 "display": "Note from the sender"}


class EmptyPeriod(Exception):
    """Nothing of the patient's record falls in the period."""


class InvalidBundle(Exception):
    """The Bundle did not validate against the R4B models (a data problem, not the patient's)."""


@dataclass
class RecordBundle:
    bundle: dict[str, Any]
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def entities(self) -> list[str]:
        return [f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in self.bundle["entry"]
                if not e["fullUrl"].startswith("urn:uuid:")]


async def _search_all(services: Services, caller: Caller, resource_type: str,
                      params: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Every match of one search under the caller's scope."""
    return [resource async for page in every_page(services.db.db, resource_type, params,
                                                  base_url=services.settings.fhir_base,
                                                  scope=search_scope(caller, resource_type), page_size=PAGE)
            for resource in page]


async def _inline_attachments(services: Services, caller: Caller, patient_id: str,
                              documents: list[dict[str, Any]]) -> None:
    """Copy the content of attachments that point at one of the patient's Binaries into ``data``,
    so that the recipient gets the document itself and not a link they cannot open. All the
    Binaries are read in one query."""
    base = services.settings.fhir_base
    wanted: list[tuple[dict[str, Any], dict[str, Any], str]] = []  # (document, attachment, Binary id)
    for document in documents:
        for content in document.get("content") or []:
            attachment = content.get("attachment") or {}
            target = None if attachment.get("data") else binary_id(str(attachment.get("url") or ""), base)
            if target:
                wanted.append((document, attachment, target))
    if not wanted:
        return
    found = services.db.resources("Binary").find({"_id": {"$in": sorted({t for _, _, t in wanted})}},
                                                 projection={"res": 1})
    binaries = {doc["_id"]: doc["res"] async for doc in found}
    for document, attachment, target in wanted:
        binary = binaries.get(target)
        if binary is None or not binary_serves(binary, patient_id, str(document["id"]), base):
            continue  # gone, or a Binary of no known owner: not sent
        try:
            check_resource(caller, "Binary", target, patient_compartments(binary, base), "r")
        except FhirError:
            continue
        if binary.get("data"):
            attachment["data"] = binary["data"]
            attachment.setdefault("contentType", binary.get("contentType"))


def _validate(bundle: dict[str, Any]) -> None:
    try:
        Bundle.model_validate(bundle)
    except ValidationError as exc:
        # Locations and error types only: the input values are patient data.
        problems = [f"{'.'.join(str(part) for part in error['loc'])}: {error['type']}" for error in exc.errors()]
        raise InvalidBundle(f"{exc.error_count()} validation error(s): {'; '.join(problems)}"[:500]) from None


def sender_note(patient_id: str, sender: Caller, sender_name: str, notes: str, sent: str) -> dict[str, Any]:
    """The sender's note, as the Communication the recipient's viewer shows above the record."""
    return {
        "resourceType": "Communication", "id": str(uuid.uuid4()), "status": "completed",
        "category": [{"coding": [NOTE_CATEGORY]}], "subject": {"reference": f"Patient/{patient_id}"},
        "sent": sent, "sender": {"reference": sender.who(), "display": sender_name},
        "payload": [{"contentString": notes}],
    }


async def build_record(services: Services, caller: Caller, patient_id: str, start: date, end: date,
                       *, now_instant: str | None = None, note: dict[str, Any] | None = None) -> RecordBundle:
    """The Bundle of ``patient_id``'s record from ``start`` to ``end`` (both days included).

    Raises EmptyPeriod when no lab, report, document or message falls in the period."""
    base = services.settings.fhir_base
    patient_version = await services.store.read("Patient", patient_id)
    patient = patient_version.resource or {}
    check_resource(caller, "Patient", patient_id, patient_compartments(patient, base), "r")
    counts: dict[str, int] = {}
    dated: list[dict[str, Any]] = []
    for resource_type, param in PERIOD_TYPES.items():
        found = await _search_all(services, caller, resource_type, [
            ("patient", patient_id), (param, f"ge{start.isoformat()}"), (param, f"le{end.isoformat()}")])
        counts[resource_type] = len(found)
        dated.extend(found)
    if not dated:
        raise EmptyPeriod()
    for resource_type in STATE_TYPES:
        found = [r for r in await _search_all(services, caller, resource_type, [("patient", patient_id)])
                 if r.get("status") not in HIDDEN_STATUSES and
                 "entered-in-error" not in str(r.get("verificationStatus", ""))]
        counts[resource_type] = len(found)
        dated.extend(found)
    await _inline_attachments(services, caller, patient_id,
                              [r for r in dated if r["resourceType"] == "DocumentReference"])
    wanted = referenced_ids([patient, *dated], base, REFERENCED_TYPES)
    referenced: list[dict[str, Any]] = []
    for resource_type, ids in wanted.items():
        if ids:
            referenced.extend(await _search_all(services, caller, resource_type, [("_id", ",".join(sorted(ids)))]))
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{uuid.uuid4()}"},
        "type": "collection",
        "timestamp": now_instant or instant(services.store.clock()),
        "entry": [{"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r}
                  for r in [patient, *dated, *referenced]],
    }
    if note:  # not a resource of the server: identified by its UUID alone
        bundle["entry"].append({"fullUrl": f"urn:uuid:{note['id']}", "resource": note})
    await asyncio.to_thread(_validate, bundle)
    return RecordBundle(bundle=bundle, counts=counts)
