"""The one door under every path a patient-scoped token can take: bundles, history,
includes, system searches, deleted resources and the audit trail itself."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.conftest import RunningServer

JANE = {"patient": "jane-doe", "fhirUser": "Patient/jane-doe"}


def observation(patient: str, text: str) -> dict:
    return {"resourceType": "Observation", "status": "final", "code": {"text": text},
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                      "code": "vital-signs"}]}],
            "subject": {"reference": f"Patient/{patient}"}}


def test_a_transaction_put_cannot_take_over_another_patients_resource(server: RunningServer,
                                                                      admin: httpx.Client) -> None:
    marias = admin.post("/Observation", json=observation("maria-alvarez", "Maria's weight")).json()
    hijack = {**observation("jane-doe", "moved"), "id": marias["id"]}
    with server.client("patient/*.cruds", **JANE) as jane:
        assert jane.put(f"/Observation/{marias['id']}", json=hijack).status_code == 404
        response = jane.post("", json={"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": hijack, "request": {"method": "PUT", "url": f"Observation/{marias['id']}"}}]})
        assert response.status_code == 404, response.text
    assert admin.get(f"/Observation/{marias['id']}").json()["subject"]["reference"] == "Patient/maria-alvarez"


def test_instance_history_shows_a_patient_only_the_versions_in_their_record(server: RunningServer,
                                                                           admin: httpx.Client) -> None:
    filed = admin.post("/Observation", json=observation("maria-alvarez", "filed to the wrong patient")).json()
    corrected = admin.put(f"/Observation/{filed['id']}", json={**observation("jane-doe", "corrected"),
                                                                  "id": filed["id"]}).json()
    with server.client("patient/*.rs", **JANE) as jane:
        history = jane.get(f"/Observation/{filed['id']}/_history").json()
        assert [e["resource"]["code"]["text"] for e in history["entry"]] == ["corrected"]
    with server.client("patient/*.rs", patient="maria-alvarez", fhirUser="Patient/maria-alvarez") as maria:
        assert maria.get(f"/Observation/{corrected['id']}").status_code == 404
        history = maria.get(f"/Observation/{filed['id']}/_history").json()
        assert [e["resource"]["code"]["text"] for e in history["entry"]] == ["filed to the wrong patient"]


def test_includes_stay_inside_the_tokens_types(server: RunningServer) -> None:
    with server.client("patient/Observation.rs", **JANE) as jane:
        assert jane.get("/Patient/jane-doe").status_code == 403
        bundle = jane.get("/Observation", params={"patient": "jane-doe", "_count": "5",
                                                  "_include": "Observation:subject",
                                                  "_revinclude": "DiagnosticReport:result"}).json()
        types = [e["resource"]["resourceType"] for e in bundle["entry"]]
        assert "Observation" in types and set(types) <= {"Observation", "OperationOutcome"}, types


def test_system_history_needs_a_scope_on_every_type(server: RunningServer) -> None:
    with server.client("system/Observation.rs") as narrow:
        refused = narrow.get("/_history")
        assert refused.status_code == 403
        assert "every type" in refused.json()["issue"][0]["diagnostics"]
    with server.client("system/*.rs") as wide:
        assert wide.get("/_history", params={"_count": "1"}).status_code == 200


def test_a_multi_type_search_keeps_each_types_restrictions(server: RunningServer) -> None:
    with server.client("system/Observation.rs?category=vital-signs system/Condition.rs") as client:
        bundle = client.get("", params={"_type": "Condition,Observation", "_count": "1000"}).json()
        categories = {c.get("code") for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"
                      for cat in e["resource"].get("category", []) for c in cat.get("coding", [])}
        assert categories == {"vital-signs"}
        assert any(e["resource"]["resourceType"] == "Condition" for e in bundle["entry"])


def test_reads_inside_a_batch_are_audited(server: RunningServer, db) -> None:  # type: ignore[no-untyped-def]
    client_id = f"batch-{uuid.uuid4().hex[:8]}"  # this test's own agent: other tests' events never count
    with server.client("system/*.rs", client_id=client_id) as client:
        response = client.post("", json={"resourceType": "Bundle", "type": "batch", "entry": [
            {"request": {"method": "GET", "url": "Patient/maria-alvarez"}},
            {"request": {"method": "GET", "url": "Observation?patient=robert-chen&_count=1"}}]})
    assert response.status_code == 200
    events = list(db["AuditEvent"].find({"res.agent.who.reference": f"Device/{client_id}"}))
    # Both patients whose data the batch read are named (one event for the batch).
    assert sorted(p for e in events for p in e["comp"]) == ["maria-alvarez", "robert-chen"]


def test_nobody_rewrites_or_deletes_the_audit_trail(server: RunningServer, admin: httpx.Client) -> None:
    admin.get("/Patient/jane-doe")
    with server.client("patient/*.cruds", **JANE) as jane:
        event = jane.get("/AuditEvent", params={"patient": "jane-doe", "_count": "1"}).json()["entry"][0]["resource"]
        assert jane.delete(f"/AuditEvent/{event['id']}").status_code == 403
        assert jane.post("/AuditEvent", json={**event, "id": None}).status_code == 403
    assert admin.delete(f"/AuditEvent/{event['id']}").status_code == 403
    assert admin.get(f"/AuditEvent/{event['id']}").status_code == 200


@pytest.mark.parametrize("bundle", [
    {"resourceType": "Bundle", "type": "batch", "entry": ["x"]},
    {"resourceType": "Bundle", "type": "batch", "entry": [{"request": "GET"}]},
    {"resourceType": "Bundle", "type": "transaction", "entry": {"request": {"method": "GET", "url": "Patient"}}},
    {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Patient", "id": "x"}, "request": {"method": "PUT", "url": "Patient/x",
                                                                            "ifMatch": "abc"}}]},
])
def test_malformed_bundles_are_400_not_500(admin: httpx.Client, bundle: dict) -> None:
    response = admin.post("", json=bundle)
    assert response.status_code == 400, response.text
    assert response.json()["resourceType"] == "OperationOutcome"


def test_a_deleted_resource_of_another_patient_is_not_found_not_gone(server: RunningServer,
                                                                    admin: httpx.Client) -> None:
    marias = admin.post("/Observation", json=observation("maria-alvarez", "to delete")).json()
    admin.delete(f"/Observation/{marias['id']}")
    with server.client("patient/*.rs", **JANE) as jane:
        assert jane.get(f"/Observation/{marias['id']}").status_code == 404
    with server.client("patient/*.rs", patient="maria-alvarez", fhirUser="Patient/maria-alvarez") as maria:
        assert maria.get(f"/Observation/{marias['id']}").status_code == 410


def test_included_resources_keep_their_own_query_restrictions(server: RunningServer, admin: httpx.Client) -> None:
    vital = admin.post("/Observation", json=observation("jane-doe", "pulse")).json()
    report = admin.post("/DiagnosticReport", json={
        "resourceType": "DiagnosticReport", "status": "final", "code": {"text": "mixed panel"},
        "subject": {"reference": "Patient/jane-doe"},
        "result": [{"reference": f"Observation/{vital['id']}"},
                   {"reference": "Observation/jane-doe-hgb-2026-06-16"}]}).json()
    scope = "patient/DiagnosticReport.rs patient/Observation.rs?category=laboratory"
    with server.client(scope, **JANE) as jane:
        bundle = jane.get("/DiagnosticReport", params={"_id": report["id"],
                                                       "_include": "DiagnosticReport:result"}).json()
    included = {e["resource"]["id"] for e in bundle["entry"] if e["search"]["mode"] == "include"}
    assert included == {"jane-doe-hgb-2026-06-16"}, "a vital-signs Observation slipped past the lab-only scope"
