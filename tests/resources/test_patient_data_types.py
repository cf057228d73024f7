"""Patient data outside the R4 Patient CompartmentDefinition stays the patient's (security review,
issue 13, High 2): a Task, Device, stored Bundle or GuidanceResponse that names a patient is given
to that patient only, by id, by search and by history; one that names no patient, to no patient;
plain reference data (Practitioner, Organization, …) stays readable."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

FHIR_JSON = {"Content-Type": "application/fhir+json"}


def patient(admin: httpx.Client, family: str) -> str:
    created = admin.post("/Patient", headers=FHIR_JSON, json={"resourceType": "Patient", "name": [{"family": family}]})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def stored(admin: httpx.Client, resource: dict[str, Any]) -> str:
    created = admin.post(f"/{resource['resourceType']}", headers=FHIR_JSON, json=resource)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def naming(pid: str) -> list[dict[str, Any]]:
    """One resource of each type outside the CompartmentDefinition, each naming this patient."""
    ref = {"reference": f"Patient/{pid}"}
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "weight"}, "subject": ref}
    return [
        {"resourceType": "Task", "status": "requested", "intent": "order", "for": ref},
        {"resourceType": "Device", "patient": ref,
         "deviceName": [{"name": "Port-a-cath", "type": "user-friendly-name"}]},
        {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": observation}]},
        {"resourceType": "GuidanceResponse", "status": "success", "moduleUri": "http://example.org/m",
         "subject": ref, "note": [{"text": "private"}]},
        {"resourceType": "Task", "status": "requested", "intent": "order",
         "input": [{"type": {"text": "about"}, "valueReference": ref}]},  # a reference anywhere
    ]


@pytest.fixture(scope="module")
def world(server: Any, admin: httpx.Client) -> dict[str, Any]:
    alice, bob = patient(admin, "Alice-Types"), patient(admin, "Bob-Types")
    alices = [(r["resourceType"], stored(admin, r)) for r in naming(alice)]
    orphan = stored(admin, {"resourceType": "Task", "status": "requested", "intent": "order"})
    both = stored(admin, {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": f"{server.fhir}/Patient/{alice}", "resource": {"resourceType": "Patient", "id": alice}},
        {"fullUrl": f"{server.fhir}/Patient/{bob}", "resource": {"resourceType": "Patient", "id": bob}}]})
    doctor = stored(admin, {"resourceType": "Practitioner", "name": [{"family": "Types-Doctor"}]})
    return {"alice": alice, "bob": bob, "alices": alices, "orphan": orphan, "both": both, "doctor": doctor}


def as_patient(server: Any, pid: str) -> httpx.Client:
    return server.client("patient/*.rs", patient=pid)


def test_another_patient_reads_none_of_it_by_id_search_or_history(server: Any, world: dict[str, Any]) -> None:
    with as_patient(server, world["bob"]) as bob:
        for rtype, rid in world["alices"]:
            assert bob.get(f"/{rtype}/{rid}").status_code == 404, rtype
            assert bob.get(f"/{rtype}/{rid}/_history").status_code == 404, rtype
            found = bob.get(f"/{rtype}", params={"_id": rid}).json()
            assert found["resourceType"] == "Bundle" and not found.get("entry"), (rtype, found)
            everything = bob.get(f"/{rtype}", params={"_count": "1000"}).json()
            assert rid not in {e["resource"]["id"] for e in everything.get("entry", [])}, rtype


def test_the_patient_it_names_reads_it(server: Any, world: dict[str, Any]) -> None:
    with as_patient(server, world["alice"]) as alice:
        for rtype, rid in world["alices"]:
            read = alice.get(f"/{rtype}/{rid}")
            assert read.status_code == 200 and read.json()["id"] == rid, rtype
            found = alice.get(f"/{rtype}", params={"_id": rid}).json()
            assert [e["resource"]["id"] for e in found["entry"]] == [rid], rtype


def test_what_names_no_patient_or_two_is_refused_to_patients_but_reference_data_is_not(
        server: Any, admin: httpx.Client, world: dict[str, Any]) -> None:
    for pid in (world["alice"], world["bob"]):
        with as_patient(server, pid) as caller:
            assert caller.get(f"/Task/{world['orphan']}").status_code == 404
            assert caller.get(f"/Bundle/{world['both']}").status_code == 404
            tasks = caller.get("/Task", params={"_id": world["orphan"]}).json()
            assert not tasks.get("entry")
            doctor = caller.get(f"/Practitioner/{world['doctor']}")
            assert doctor.status_code == 200 and doctor.json()["name"][0]["family"] == "Types-Doctor"
    assert admin.get(f"/Bundle/{world['both']}").status_code == 200  # the practice still reads it


def test_a_patient_cannot_write_patient_data_of_another_type_for_someone_else(server: Any,
                                                                              world: dict[str, Any]) -> None:
    with server.client("patient/*.cruds", patient=world["bob"]) as bob:
        task = {"resourceType": "Task", "status": "requested", "intent": "order",
                "for": {"reference": f"Patient/{world['alice']}"}}
        refused = bob.post("/Task", headers=FHIR_JSON, json=task)
        assert refused.status_code == 403, refused.text
        own = bob.post("/Task", headers=FHIR_JSON, json={**task, "for": {"reference": f"Patient/{world['bob']}"}})
        assert own.status_code == 201, own.text


def test_resources_stored_under_the_old_rule_are_recomputed_once_at_start_up(server: Any, db: Any,
                                                                            world: dict[str, Any]) -> None:
    from fhir_server.db import Database
    from fhir_server.resources.reindex import upgrade_compartments
    from fhir_server.resources.store import ResourceStore

    rtype, rid = world["alices"][0]
    db[rtype].update_one({"_id": rid}, {"$set": {"comp": []}})  # as a version-1 server stored it
    db["server_state"].delete_one({"_id": "compartment-rule"})
    with as_patient(server, world["alice"]) as alice:
        # Reads by id decide on the resource itself; a search reads the stored compartments, so
        # until they are recomputed the resource is refused to every patient (never leaked).
        assert not alice.get(f"/{rtype}", params={"_id": rid}).json().get("entry")

        async def start_up() -> tuple[int, int]:
            database = Database(server.mongo_uri, server.settings.database_name, embedded=True)
            store = ResourceStore(database, base_url=server.settings.fhir_base)
            try:
                return await upgrade_compartments(store), await upgrade_compartments(store)
            finally:
                await database.close()

        # In a thread of its own: the browser tests' sync Playwright leaves a loop on this one.
        with ThreadPoolExecutor(1) as pool:
            first, second = pool.submit(asyncio.run, start_up()).result()
        assert first >= 1 and second == 0  # once: the second start reads nothing
        assert db[rtype].find_one({"_id": rid})["comp"] == [world["alice"]]
        assert [e["resource"]["id"] for e in alice.get(f"/{rtype}", params={"_id": rid}).json()["entry"]] == [rid]
