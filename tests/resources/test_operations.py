"""$everything pages through a patient's compartment without repeats; $validate stores nothing."""

from __future__ import annotations

import json

import httpx

from tests.conftest import RunningServer
from tests.support.fhir import follow


def everything(client: httpx.Client, patient_id: str, **params: str) -> list[dict]:
    return follow(client, client.get(f"/Patient/{patient_id}/$everything", params=params))


def test_everything_holds_the_compartment_and_referenced_practitioners(admin: httpx.Client) -> None:
    resources = everything(admin, "robert-chen", _count="37")
    keys = [f"{r['resourceType']}/{r['id']}" for r in resources]
    assert len(keys) == len(set(keys)), "a resource repeated across pages"
    types = {r["resourceType"] for r in resources}
    assert {"Patient", "Observation", "DocumentReference", "Communication", "Condition", "Practitioner"} <= types
    observations = admin.get("/Observation", params={"patient": "robert-chen", "_count": "1000"}).json()
    expected = {e["resource"]["id"] for e in observations["entry"]}
    assert {r["id"] for r in resources if r["resourceType"] == "Observation"} == expected
    for resource in resources:
        subject = (resource.get("subject") or resource.get("patient") or {}).get("reference")
        assert subject in (None, "Patient/robert-chen"), f"{resource['resourceType']}/{resource['id']} is not Robert's"


def test_one_page_and_many_pages_hold_the_same_record(admin: httpx.Client) -> None:
    """A page holding the whole compartment finds what it refers to in what it read; paging
    reads the compartment again for it: both must return the same Practitioners, Organizations…"""
    def keys(resources: list[dict]) -> set[str]:
        return {f"{r['resourceType']}/{r['id']}" for r in resources}

    whole = everything(admin, "robert-chen", _count="1000")
    paged = everything(admin, "robert-chen", _count="7")
    assert keys(whole) == keys(paged)
    referenced = {k for k in keys(whole) if k.split("/")[0] in ("Practitioner", "Organization")}
    assert referenced, "Robert's record refers to his care team"
    for key in referenced:
        assert any(key in json.dumps(r) for r in whole if r["resourceType"] not in ("Practitioner", "Organization"))


def test_everything_for_a_patient_token_only_for_that_patient(server: RunningServer) -> None:
    with server.client("patient/*.rs", patient="maria-alvarez", fhirUser="Patient/maria-alvarez") as client:
        own = everything(client, "maria-alvarez", _count="200")
        assert any(r["resourceType"] == "Observation" for r in own)
        other = client.get("/Patient/jane-doe/$everything")
        assert other.status_code == 404


def test_everything_type_filter(admin: httpx.Client) -> None:
    only = everything(admin, "jane-doe", _type="Condition,Patient")
    assert {r["resourceType"] for r in only} == {"Condition", "Patient"}


def test_everything_leaves_the_audit_trail_out_unless_type_asks(admin: httpx.Client) -> None:
    """Each look at a record writes an AuditEvent into its compartment: were they part of
    $everything, every look would make the next one larger."""
    first = everything(admin, "maria-alvarez", _count="500")
    second = everything(admin, "maria-alvarez", _count="500")
    assert "AuditEvent" not in {r["resourceType"] for r in first + second}
    assert len(first) == len(second)
    trail = everything(admin, "maria-alvarez", _type="AuditEvent", _count="500")
    assert len(trail) >= 2 and {r["resourceType"] for r in trail} == {"AuditEvent"}
    for event in trail:  # she is what was looked at, or who looked (a refusal names only the asker)
        named = {e["what"]["reference"] for e in event.get("entity", [])}
        named |= {a["who"]["reference"] for a in event["agent"]}
        assert "Patient/maria-alvarez" in named


def test_validate_answers_an_outcome_and_stores_nothing(admin: httpx.Client, db) -> None:  # type: ignore[no-untyped-def]
    before = db["Patient"].count_documents({})
    good = admin.post("/Patient/$validate", json={"resourceType": "Patient", "gender": "female"})
    assert good.status_code == 200
    assert good.json()["issue"][0]["severity"] == "information"
    bad = admin.post("/Patient/$validate", json={"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": {"resourceType": "Patient", "gender": 3}}]})
    assert bad.status_code == 200
    assert bad.json()["issue"][0]["severity"] == "error"
    assert "Patient.gender" in bad.json()["issue"][0]["expression"]
    assert db["Patient"].count_documents({}) == before


def test_type_level_everything_covers_every_patient_once(admin: httpx.Client, server: RunningServer) -> None:
    resources = follow(admin, admin.get("/Patient/$everything", params={"_count": "250", "_type": "Patient,Condition"}))
    keys = [f"{r['resourceType']}/{r['id']}" for r in resources]
    assert len(keys) == len(set(keys))
    patients = {r["id"] for r in resources if r["resourceType"] == "Patient"}
    assert {"jane-doe", "robert-chen", "maria-alvarez"} <= patients
    all_patients = admin.get("/Patient", params={"_summary": "count"}).json()["total"]
    assert len(patients) == all_patients
    assert {r["resourceType"] for r in resources} == {"Patient", "Condition"}
    with server.client("patient/*.rs", patient="jane-doe", fhirUser="Patient/jane-doe") as jane:
        assert jane.get("/Patient/$everything").status_code == 403
