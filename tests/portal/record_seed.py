"""A record with one or more of every kind the record sections show, written through the
FHIR API in one transaction: what the browser tests then read back page by page."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

LOINC = "http://loinc.org"
VITALS = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                      "code": "vital-signs"}]}


def _status(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": f"http://terminology.hl7.org/CodeSystem/{system}", "code": code}]}


def _quantity(value: float, unit: str, code: str | None = None) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": code or unit}


def _vital(patient: str, code: str, text: str, when: str, **value: Any) -> dict[str, Any]:
    return {"resourceType": "Observation", "status": "final", "category": [VITALS],
            "code": {"coding": [{"system": LOINC, "code": code}], "text": text},
            "subject": {"reference": f"Patient/{patient}"}, "effectiveDateTime": when, **value}


def _pressure(patient: str, when: str, systolic: int, diastolic: int) -> dict[str, Any]:
    def part(code: str, text: str, value: int) -> dict[str, Any]:
        return {"code": {"coding": [{"system": LOINC, "code": code}], "text": text},
                "valueQuantity": _quantity(value, "mmHg", "mm[Hg]")}

    return _vital(patient, "85354-9", "Blood pressure", when,
                  component=[part("8480-6", "Systolic blood pressure", systolic),
                             part("8462-4", "Diastolic blood pressure", diastolic)])


def record_resources(patient: str) -> list[tuple[str, dict[str, Any]]]:
    """(fullUrl, resource) of a whole record; references between them by ``urn:uuid``."""
    org, encounter = f"urn:uuid:{uuid.uuid4()}", f"urn:uuid:{uuid.uuid4()}"
    subject = {"reference": f"Patient/{patient}"}
    soon = (datetime.now(UTC) + timedelta(days=10)).replace(hour=14, minute=30, second=0, microsecond=0)
    note = base64.b64encode(b"Follow-up visit. Doing well.").decode()
    resources: list[dict[str, Any]] = [
        {"resourceType": "Organization", "name": "Lakeside Test Clinic",
         "telecom": [{"system": "phone", "value": "+1-555-0142"}, {"system": "email", "value": "desk@lakeside.test"}],
         "address": [{"line": ["12 Shore Road"], "city": "Portland", "state": "OR", "postalCode": "97201"}]},
        {"resourceType": "Condition", "subject": subject, "clinicalStatus": _status("condition-clinical", "active"),
         "code": {"text": "Essential hypertension"}, "onsetDateTime": "2019-03-02",
         "recorder": {"reference": "Practitioner/test-doc", "display": "Rita Moss, MD"}},
        {"resourceType": "Condition", "subject": subject, "clinicalStatus": _status("condition-clinical", "resolved"),
         "code": {"text": "Community-acquired pneumonia"}, "onsetDateTime": "2021-01-10",
         "abatementDateTime": "2021-02-01", "recorder": {"display": "Omar Field, MD"}},
        {"resourceType": "Condition", "subject": subject, "clinicalStatus": _status("condition-clinical", "active"),
         "verificationStatus": _status("condition-ver-status", "entered-in-error"), "code": {"text": "Wrong chart"}},
        {"resourceType": "MedicationRequest", "status": "active", "intent": "order", "subject": subject,
         "medicationCodeableConcept": {"text": "Lisinopril 10 mg tablet"}, "authoredOn": "2024-05-01",
         "requester": {"display": "Rita Moss, MD"},
         "dosageInstruction": [{"text": "1 tablet by mouth once daily", "patientInstruction": "Take in the morning."}]},
        {"resourceType": "MedicationStatement", "status": "completed", "subject": subject,
         "medicationCodeableConcept": {"text": "Amoxicillin 500 mg capsule"}, "effectiveDateTime": "2021-01-10",
         "dosage": [{"doseAndRate": [{"doseQuantity": _quantity(1, "capsule", "{capsule}")}],
                     "timing": {"repeat": {"frequency": 3, "period": 1, "periodUnit": "d"}}}]},
        {"resourceType": "AllergyIntolerance", "patient": subject, "criticality": "high", "category": ["medication"],
         "type": "allergy", "clinicalStatus": _status("allergyintolerance-clinical", "active"),
         "code": {"text": "Penicillin"}, "recordedDate": "2015-07-04",
         "reaction": [{"manifestation": [{"text": "Hives"}], "severity": "moderate"}]},
        {"resourceType": "Immunization", "status": "completed", "patient": subject,
         "vaccineCode": {"text": "Influenza vaccine, quadrivalent"}, "occurrenceDateTime": "2025-10-02",
         "protocolApplied": [{"doseNumberPositiveInt": 1}], "performer": [{"actor": {"display": "Grace Liu, RN"}}]},
        _pressure(patient, "2024-01-10T09:00:00Z", 142, 91),
        _pressure(patient, "2025-01-12T09:00:00Z", 131, 84),
        _pressure(patient, "2026-01-15T09:00:00Z", 124, 79),
        _vital(patient, "29463-7", "Body weight", "2026-01-15T09:00:00Z", valueQuantity=_quantity(71.5, "kg")),
        _vital(patient, "39156-5", "Body mass index", "2026-01-15T09:00:00Z",
               valueQuantity=_quantity(24.1, "kg/m2", "kg/m2")),
        _vital(patient, "8310-5", "Body temperature", "2026-01-15T09:00:00Z",
               valueQuantity=_quantity(36.8, "°C", "Cel")),
        {"resourceType": "Encounter", "status": "finished", "subject": subject,
         "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
         "type": [{"text": "Follow-up visit"}],
         "period": {"start": "2026-01-15T09:00:00Z", "end": "2026-01-15T09:30:00Z"},
         "participant": [{"individual": {"display": "Rita Moss, MD"}}],
         "reasonCode": [{"text": "Blood pressure check"}],
         "serviceProvider": {"reference": org}},
        {"resourceType": "DocumentReference", "status": "current", "subject": subject, "date": "2026-01-15T10:00:00Z",
         "type": {"coding": [{"system": LOINC, "code": "11506-3", "display": "Progress note"}]},
         "description": "Follow-up visit note", "context": {"encounter": [{"reference": encounter}]},
         "content": [{"attachment": {"contentType": "text/plain", "data": note, "title": "Follow-up visit note"}}]},
        {"resourceType": "Appointment", "status": "booked", "description": "Blood pressure review",
         "start": soon.isoformat().replace("+00:00", "Z"),
         "end": (soon + timedelta(minutes=30)).isoformat().replace("+00:00", "Z"),
         "participant": [{"actor": subject, "status": "accepted"},
                         {"actor": {"display": "Rita Moss, MD"}, "status": "accepted"}]},
        {"resourceType": "CareTeam", "status": "active", "name": "Hypertension care team", "subject": subject,
         "managingOrganization": [{"reference": org}],
         "participant": [{"role": [{"text": "Primary care physician"}], "member": {"display": "Rita Moss, MD"},
                          "onBehalfOf": {"reference": org, "display": "Lakeside Test Clinic"}},
                         {"role": [{"text": "Nurse"}], "member": {"display": "Grace Liu, RN"}}]},
    ]
    urls = [org, *(f"urn:uuid:{uuid.uuid4()}" for _ in resources[1:])]
    encounter_index = next(i for i, r in enumerate(resources) if r["resourceType"] == "Encounter")
    urls[encounter_index] = encounter
    return list(zip(urls, resources, strict=True))


def seed_record(admin: httpx.Client, patient: str) -> dict[str, str]:
    """Write the record in one transaction; the new ids by resource type (first of each)."""
    entries = [{"fullUrl": url, "resource": resource,
                "request": {"method": "POST", "url": resource["resourceType"]}}
               for url, resource in record_resources(patient)]
    response = admin.post("", json={"resourceType": "Bundle", "type": "transaction", "entry": entries},
                          headers={"Content-Type": "application/fhir+json"})
    assert response.status_code == 200, response.text
    ids: dict[str, str] = {}
    for entry in response.json()["entry"]:
        kind, _, rest = entry["response"]["location"].partition("/")
        ids.setdefault(kind, rest.split("/")[0])
    return ids
