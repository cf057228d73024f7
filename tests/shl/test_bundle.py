"""The Bundle of a period: exactly the patient's resources of that period (compared with what
the REST API answers), the resources they refer to, nothing of other patients; valid R4."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.bundle import Bundle

from fhir_server.services import Services
from fhir_server.shl.bundle import EmptyPeriod, InvalidBundle, RecordBundle, _validate, build_record
from tests.shl.conftest import patient_caller, run

PERIOD = ("2024-01-01", "2024-12-31")
DATE_PARAM = {"Observation": "date", "DiagnosticReport": "date", "DocumentReference": "date", "Communication": "sent",
              "Immunization": "date", "Encounter": "date"}


def _build(server: Any, patient_id: str, start: str, end: str) -> RecordBundle:
    async def work(services: Services) -> RecordBundle:
        return await build_record(services, patient_caller(patient_id), patient_id,
                                  date.fromisoformat(start), date.fromisoformat(end))

    return run(server, work)


def _api_ids(admin: httpx.Client, resource_type: str, patient_id: str) -> set[str]:
    param = DATE_PARAM[resource_type]
    response = admin.get(f"/{resource_type}", params=[("patient", patient_id), (param, f"ge{PERIOD[0]}"),
                                                      (param, f"le{PERIOD[1]}"), ("_count", "1000")])
    assert response.status_code == 200, response.text
    return {e["resource"]["id"] for e in response.json().get("entry", [])}


def test_the_bundle_holds_exactly_the_patients_resources_of_the_period(server: Any, admin: httpx.Client) -> None:
    record = _build(server, "jane-doe", *PERIOD)
    bundle = record.bundle
    Bundle.model_validate(bundle)
    assert bundle["type"] == "collection"
    by_type: dict[str, set[str]] = {}
    for entry in bundle["entry"]:
        resource = entry["resource"]
        by_type.setdefault(resource["resourceType"], set()).add(resource["id"])
        assert entry["fullUrl"] == f"{server.fhir}/{resource['resourceType']}/{resource['id']}"
    for resource_type in DATE_PARAM:
        expected = _api_ids(admin, resource_type, "jane-doe")
        assert by_type.get(resource_type, set()) == expected, resource_type
        assert record.counts[resource_type] == len(expected)
    assert by_type["Observation"] and by_type["DocumentReference"] and by_type["Communication"]
    # The record as it stands goes whatever the period: problems, medications, allergies, care team.
    assert set(by_type) >= {"Condition", "MedicationRequest", "AllergyIntolerance", "CareTeam", "Encounter",
                            "Immunization"}
    assert by_type["Patient"] == {"jane-doe"}
    # Nothing of other patients: every patient reference names Jane.
    for entry in bundle["entry"]:
        resource = entry["resource"]
        for field in ("subject", "patient"):
            ref = (resource.get(field) or {}).get("reference")
            assert ref in (None, "Patient/jane-doe"), resource["id"]
        assert "robert-chen" not in str(resource) and "maria-alvarez" not in str(resource)
    # The practitioners and the practice that the resources name are included.
    assert "riverbend-oncology" in by_type["Organization"]
    assert by_type.get("Practitioner")


def test_every_resource_is_dated_inside_the_period(server: Any) -> None:
    bundle = _build(server, "robert-chen", "2019-01-01", "2019-06-30").bundle
    dated = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] in DATE_PARAM]
    assert len(dated) > 5, "nothing dated in the period: the check below would pass on nothing"
    for resource in dated:
        moment = (resource.get("effectiveDateTime") or resource.get("date") or resource.get("sent")
                  or resource.get("occurrenceDateTime") or resource.get("period", {}).get("start"))
        assert "2019-01-01" <= moment[:10] <= "2019-06-30", resource["id"]


def test_documents_carry_their_content(server: Any) -> None:
    bundle = _build(server, "jane-doe", *PERIOD).bundle
    documents = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "DocumentReference"]
    assert documents
    for document in documents:
        assert all(c["attachment"].get("data") for c in document["content"])


def test_an_empty_period_is_refused(server: Any) -> None:
    with pytest.raises(EmptyPeriod):
        _build(server, "jane-doe", "2001-01-01", "2001-12-31")


def test_an_invalid_bundle_names_where_and_why_but_no_patient_data() -> None:
    secret = "Jane-Secret-Diagnosis-4711"
    bundle = {"resourceType": "Bundle", "type": "collection", "timestamp": secret,
              "entry": [{"resource": {"resourceType": "Patient", "id": "jane-doe", "gender": secret,
                                      "birthDate": secret}}]}
    with pytest.raises(InvalidBundle) as caught:
        _validate(bundle)
    message = str(caught.value)
    assert secret not in message and "input_value" not in message
    assert "validation error" in message and "timestamp" in message


def test_documents_kept_in_binaries_travel_with_their_content_only_when_the_binary_is_theirs(
        server: Any, admin: httpx.Client) -> None:
    import base64

    def document(title: str, binary: dict[str, Any]) -> str:
        made = admin.post("/Binary", json={"resourceType": "Binary", "contentType": "text/plain",
                                           "data": base64.b64encode(title.encode()).decode(), **binary}).json()
        doc = admin.post("/DocumentReference", json={
            "resourceType": "DocumentReference", "status": "current", "subject": {"reference": "Patient/maria-alvarez"},
            "date": "2016-03-05T10:00:00Z", "description": title,
            "content": [{"attachment": {"contentType": "text/plain", "url": f"Binary/{made['id']}"}}]}).json()
        return str(doc["id"])

    own = document("Maria's own note", {"securityContext": {"reference": "Patient/maria-alvarez"}})
    foreign = document("Robert's note", {"securityContext": {"reference": "Patient/robert-chen"}})
    record = _build(server, "maria-alvarez", "2016-03-01", "2016-03-31")
    sent = {e["resource"]["id"]: e["resource"] for e in record.bundle["entry"]
            if e["resource"]["resourceType"] == "DocumentReference"}
    assert base64.b64decode(sent[own]["content"][0]["attachment"]["data"]) == b"Maria's own note"
    assert "data" not in sent[foreign]["content"][0]["attachment"]
