"""Transactions are all or nothing; batches answer per entry."""

from __future__ import annotations

import uuid

import httpx


def transaction(*entries: dict) -> dict:
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}


def test_transaction_resolves_urn_uuid_references(admin: httpx.Client) -> None:
    patient_url = "urn:uuid:8f2c7a52-1111-4c1e-9d6e-000000000001"
    bundle = transaction(
        {"fullUrl": patient_url, "resource": {"resourceType": "Patient", "name": [{"family": "Urnson"}]},
         "request": {"method": "POST", "url": "Patient"}},
        {"fullUrl": "urn:uuid:8f2c7a52-1111-4c1e-9d6e-000000000002",
         "resource": {"resourceType": "Observation", "status": "final", "code": {"text": "weight"},
                      "subject": {"reference": patient_url}},
         "request": {"method": "POST", "url": "Observation"}},
    )
    response = admin.post("", json=bundle)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["type"] == "transaction-response"
    patient_id = result["entry"][0]["resource"]["id"]
    observation = result["entry"][1]["resource"]
    assert observation["subject"]["reference"] == f"Patient/{patient_id}"
    assert result["entry"][1]["response"]["status"] == "201 Created"
    assert admin.get(f"/Observation/{observation['id']}").json()["subject"]["reference"] == f"Patient/{patient_id}"


def test_failing_entry_rolls_back_the_whole_transaction(admin: httpx.Client, db) -> None:  # type: ignore[no-untyped-def]
    family = f"Rollback{uuid.uuid4().hex[:8]}"  # this test's own marker: other tests' writes never count
    bundle = transaction(
        {"resource": {"resourceType": "Patient", "name": [{"family": family}]},
         "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Observation", "status": ["final"], "code": {"text": "x"}},
         "request": {"method": "POST", "url": "Observation"}},
    )
    response = admin.post("", json=bundle)
    assert response.status_code == 422, response.text
    assert "Bundle.entry[1]" in response.json()["issue"][0]["diagnostics"]
    assert admin.get("/Patient", params={"family": family, "_summary": "count"}).json()["total"] == 0
    assert db["history"].count_documents({"t": "Patient", "res.name.family": family}) == 0


def test_failure_during_the_writes_rolls_back_what_was_written(admin: httpx.Client, db) -> None:  # type: ignore[no-untyped-def]
    jane = admin.get("/Patient/jane-doe").json()
    family = f"Halfway{uuid.uuid4().hex[:8]}"
    stale = {**jane, "gender": "other"}
    bundle = transaction(
        {"resource": {"resourceType": "Patient", "name": [{"family": family}]},
         "request": {"method": "POST", "url": "Patient"}},
        {"resource": stale, "request": {"method": "PUT", "url": "Patient/jane-doe", "ifMatch": 'W/"999"'}},
    )
    response = admin.post("", json=bundle)
    assert response.status_code == 412, response.text
    after = admin.get("/Patient/jane-doe").json()
    assert after["meta"]["versionId"] == jane["meta"]["versionId"] and after["gender"] == jane["gender"]
    # The Patient created before the failing entry was taken back, history and all.
    assert admin.get("/Patient", params={"family": family, "_summary": "count"}).json()["total"] == 0
    assert db["history"].count_documents({"t": "Patient", "res.name.family": family}) == 0


def test_unknown_urn_reference_fails_the_transaction(admin: httpx.Client) -> None:
    bundle = transaction(
        {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                      "subject": {"reference": "urn:uuid:00000000-0000-0000-0000-00000000dead"}},
         "request": {"method": "POST", "url": "Observation"}})
    response = admin.post("", json=bundle)
    assert response.status_code == 400
    assert "names no entry" in response.json()["issue"][0]["diagnostics"]


def test_batch_answers_each_entry_on_its_own(admin: httpx.Client) -> None:
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": {"resourceType": "Patient", "name": [{"family": "Batchgood"}]},
         "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Patient", "gender": 12}, "request": {"method": "POST", "url": "Patient"}},
        {"request": {"method": "GET", "url": "Patient/jane-doe"}},
    ]}
    response = admin.post("", json=bundle)
    assert response.status_code == 200
    entries = response.json()["entry"]
    assert entries[0]["response"]["status"] == "201 Created"
    assert entries[1]["response"]["status"] == "422"
    assert entries[1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert entries[2]["resource"]["id"] == "jane-doe"


def test_conditional_create_and_reference_inside_a_transaction(admin: httpx.Client) -> None:
    identifier = {"system": "https://example.org/mrn", "value": "COND-TX-1"}
    first = admin.post("/Patient", json={"resourceType": "Patient", "identifier": [identifier]})
    assert first.status_code == 201
    bundle = transaction(
        {"resource": {"resourceType": "Patient", "identifier": [identifier]},
         "request": {"method": "POST", "url": "Patient", "ifNoneExist": "identifier=https://example.org/mrn|COND-TX-1"}},
        {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                      "subject": {"reference": "Patient?identifier=https://example.org/mrn|COND-TX-1"}},
         "request": {"method": "POST", "url": "Observation"}},
    )
    response = admin.post("", json=bundle)
    assert response.status_code == 200, response.text
    entries = response.json()["entry"]
    assert entries[0]["resource"]["id"] == first.json()["id"]
    assert entries[0]["response"]["status"] == "200 OK"
    assert entries[1]["resource"]["subject"]["reference"] == f"Patient/{first.json()['id']}"


def _json_patch_binary(operations: list[dict]) -> dict:
    import base64
    import json

    return {"resourceType": "Binary", "contentType": "application/json-patch+json",
            "data": base64.b64encode(json.dumps(operations).encode()).decode()}


def test_patch_entries_apply_in_a_transaction_and_roll_back_together(admin: httpx.Client) -> None:
    patient = admin.post("/Patient", json={"resourceType": "Patient", "gender": "female"}).json()
    pid = patient["id"]
    ok = admin.post("", json=transaction(
        {"resource": _json_patch_binary([{"op": "replace", "path": "/gender", "value": "other"}]),
         "request": {"method": "PATCH", "url": f"Patient/{pid}"}}))
    assert ok.status_code == 200, ok.text
    assert ok.json()["entry"][0]["resource"]["gender"] == "other"
    assert admin.get(f"/Patient/{pid}").json()["meta"]["versionId"] == "2"
    failed = admin.post("", json=transaction(
        {"resource": _json_patch_binary([{"op": "replace", "path": "/gender", "value": "male"}]),
         "request": {"method": "PATCH", "url": f"Patient/{pid}"}},
        {"resource": _json_patch_binary([{"op": "remove", "path": "/nothing-there"}]),
         "request": {"method": "PATCH", "url": f"Patient/{pid}"}}))
    assert failed.status_code == 422
    assert "Bundle.entry[1]" in failed.json()["issue"][0]["diagnostics"]
    after = admin.get(f"/Patient/{pid}").json()
    assert (after["gender"], after["meta"]["versionId"]) == ("other", "2")
