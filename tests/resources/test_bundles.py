"""Transactions are all or nothing; batches answer per entry."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
from pymongo import MongoClient, monitoring

from fhir_server.config import Settings
from fhir_server.importer import IMPORTER
from fhir_server.resources.bundles import BundleProcessor
from fhir_server.services import build_services
from tests.resources.test_refusal_audit import refusals_by
from tests.threaded import run_coroutine


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
    other = admin.post("/Patient", json={"resourceType": "Patient", "gender": "male"}).json()["id"]
    failed = admin.post("", json=transaction(
        {"resource": _json_patch_binary([{"op": "replace", "path": "/gender", "value": "male"}]),
         "request": {"method": "PATCH", "url": f"Patient/{pid}"}},
        {"resource": _json_patch_binary([{"op": "remove", "path": "/nothing-there"}]),
         "request": {"method": "PATCH", "url": f"Patient/{other}"}}))
    assert failed.status_code == 422
    assert "Bundle.entry[1]" in failed.json()["issue"][0]["diagnostics"]
    after = admin.get(f"/Patient/{pid}").json()
    assert (after["gender"], after["meta"]["versionId"]) == ("other", "2")


def test_a_transaction_writes_each_resource_once(admin: httpx.Client) -> None:
    identifier = {"system": "https://example.org/mrn", "value": f"ONCE-{uuid.uuid4().hex[:8]}"}
    patient = admin.post("/Patient", json={"resourceType": "Patient", "gender": "female",
                                          "identifier": [identifier]}).json()
    pid = patient["id"]
    twice = admin.post("", json=transaction(
        {"resource": {**patient, "gender": "other"}, "request": {"method": "PUT", "url": f"Patient/{pid}"}},
        {"request": {"method": "DELETE", "url": f"Patient/{pid}"}}))
    assert twice.status_code == 400, twice.text
    diagnostics = twice.json()["issue"][0]["diagnostics"]
    assert diagnostics.startswith("Bundle.entry[1]:") and f"Bundle.entry[0] writes Patient/{pid} too" in diagnostics
    # A conditional update that finds the same Patient is the same resource.
    conditional = admin.post("", json=transaction(
        {"resource": {**patient, "gender": "other"}, "request": {"method": "PUT", "url": f"Patient/{pid}"}},
        {"resource": {**patient, "gender": "male"},
         "request": {"method": "PUT", "url": f"Patient?identifier={identifier['system']}|{identifier['value']}"}}))
    assert conditional.status_code == 400, conditional.text
    after = admin.get(f"/Patient/{pid}").json()
    assert (after["gender"], after["meta"]["versionId"]) == ("female", "1")


def test_refusals_inside_a_transaction_or_a_batch_are_audited(server: Any, admin: httpx.Client, db: Any) -> None:
    victim = admin.post("/Patient", json={"resourceType": "Patient"}).json()["id"]
    prober = admin.post("/Patient", json={"resourceType": "Patient"}).json()["id"]
    note = admin.post("/Observation", json={
        "resourceType": "Observation", "status": "final", "code": {"text": "private"},
        "subject": {"reference": f"Patient/{victim}"}}).json()
    me = f"Patient/{prober}"
    changed = {**note, "status": "amended", "subject": {"reference": me}}
    with server.client("patient/Observation.cruds", patient=prober, fhirUser=me,
                       sub=f"prober-{uuid.uuid4().hex[:6]}") as api:
        put = api.post("", json=transaction(
            {"resource": changed, "request": {"method": "PUT", "url": f"Observation/{note['id']}"}}))
        delete = api.post("", json=transaction({"request": {"method": "DELETE", "url": f"Observation/{note['id']}"}}))
        batch = api.post("", json={"resourceType": "Bundle", "type": "batch", "entry": [
            {"request": {"method": "DELETE", "url": f"Observation/{note['id']}"}}]})
    assert (put.status_code, delete.status_code) == (404, 404), (put.text, delete.text)
    assert "Bundle.entry[0]" in put.json()["issue"][0]["diagnostics"]
    assert batch.json()["entry"][0]["response"]["status"] == "404"
    assert admin.get(f"/Observation/{note['id']}").json()["meta"]["versionId"] == "1"
    asked = {e["subtype"][0]["code"] for e in refusals_by(db, me)
             if f"Observation/{note['id']}" in e["outcomeDesc"]}
    assert asked == {"update", "delete"}, asked


class _Commands(monitoring.CommandListener):
    """The commands a client sent: (name, collection)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.sent.append((event.command_name, str(event.command.get(event.command_name, ""))))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def _observation(patient_url: str, value: float) -> dict:
    return {"resourceType": "Observation", "status": "final", "subject": {"reference": patient_url},
            "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
            "valueQuantity": {"value": value, "unit": "g/dL"}}


def test_many_updates_and_deletes_in_a_transaction_take_a_round_trip_a_kind_not_three_an_entry(
        tmp_path: Path, mongo_uri: str, mongo: MongoClient) -> None:
    database = f"carespace_bundle_{uuid.uuid4().hex[:8]}"
    settings = Settings(mongodb_uri=mongo_uri, embedded_db=True, data_dir=tmp_path / "var", database_name=database)
    settings.data_dir.mkdir()
    commands = _Commands()

    async def run() -> tuple[list[dict], dict, list[tuple[str, str]]]:
        services = await build_services(settings, event_listeners=[commands])
        try:
            patient_url = f"urn:uuid:{uuid.uuid4()}"
            created = await BundleProcessor(services, IMPORTER).run(transaction(
                {"fullUrl": patient_url, "resource": {"resourceType": "Patient"},
                 "request": {"method": "POST", "url": "Patient"}},
                *({"resource": _observation(patient_url, 10 + i), "request": {"method": "POST", "url": "Observation"}}
                  for i in range(20))))
            observations = [e["resource"] for e in created["entry"][1:]]
            commands.sent.clear()
            result = await BundleProcessor(services, IMPORTER).run(transaction(
                *({"resource": {**o, "valueQuantity": {"value": 99.5, "unit": "g/dL"}},
                   "request": {"method": "PUT", "url": f"Observation/{o['id']}"}} for o in observations[:10]),
                *({"request": {"method": "DELETE", "url": f"Observation/{o['id']}"}} for o in observations[10:])))
            return observations, result, list(commands.sent)
        finally:
            await services.db.close()

    try:
        observations, result, sent = run_coroutine(run())
        assert [e["response"]["status"] for e in result["entry"]] == ["200 OK"] * 10 + ["204 No Content"] * 10
        writes = sorted(c for c in sent if c[0] in ("insert", "update", "delete"))
        assert writes == [("delete", "Observation"), ("insert", "history"), ("update", "Observation")], sent
        assert sent.count(("find", "Observation")) == 1, sent
        stored = {d["_id"]: d for d in mongo[database]["Observation"].find()}
        assert set(stored) == {o["id"] for o in observations[:10]}
        assert all(d["vid"] == 2 and d["res"]["valueQuantity"]["value"] == 99.5 for d in stored.values())
        history = {(d["id"], d["vid"]): d.get("res") for d in mongo[database]["history"].find({"t": "Observation"})}
        assert all(history[(o["id"], 2)] is None for o in observations[10:]), "each delete left its tombstone"
        assert all(history[(o["id"], 2)]["valueQuantity"]["value"] == 99.5 for o in observations[:10])
    finally:
        mongo.drop_database(database)
