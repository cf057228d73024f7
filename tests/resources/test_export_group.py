"""Group resources and Bulk Data for a population: Group/{id}/$export, _typeFilter, _elements,
_since and patient=, driven by a SMART back-end client (a key pair made here, private_key_jwt)
that kicks off, polls, downloads and checks every NDJSON line against the R4 models."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from fhir.resources.R4B import get_fhir_model_class

from tests.conftest import RunningServer
from tests.resources.test_export import ASYNC, by_type
from tests.smart.helpers import BackendKey, add_client, backend_token_request
from tests.support.fhir import all_pages

MEMBERS = ["jane-doe", "robert-chen"]
SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}


@pytest.fixture(scope="module")
def backend(server: RunningServer) -> Iterator[httpx.Client]:
    """An EHR's back end: registered with its public JWK Set, signing its own token request."""
    key = BackendKey("RS384")
    client = add_client(server, "backend", jwks=key.jwks, scope="system/*.rs")[0]
    response = backend_token_request(server, client.client_id, key.assertion(client.client_id,
                                                                             f"{server.url}/auth/token"))
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    with httpx.Client(base_url=server.fhir, timeout=60, headers={"Authorization": f"Bearer {token}"}) as http:
        yield http


@pytest.fixture(scope="module")
def group(admin: httpx.Client) -> dict:
    body = {"resourceType": "Group", "type": "person", "actual": True, "name": "Export cohort",
            "member": [{"entity": {"reference": f"Patient/{p}"}} for p in MEMBERS]
            + [{"entity": {"reference": "Patient/maria-alvarez"}, "inactive": True}]}
    response = admin.post("/Group", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def export(client: httpx.Client, path: str, params: dict | None = None, body: dict | None = None) -> dict:
    """Kick off, poll until complete, and return the manifest."""
    if body is None:
        kick = client.get(path, params=params or {}, headers=ASYNC)
    else:
        kick = client.post(path, json=body, headers=ASYNC)
    assert kick.status_code == 202, kick.text
    status_url = kick.headers["Content-Location"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = client.get(status_url)
        if status.status_code == 200:
            return status.json()
        assert status.status_code == 202, status.text
        time.sleep(0.1)
    raise AssertionError("the export did not complete within 30 s")


def lines(client: httpx.Client, output: dict) -> list[dict]:
    """Download one file and check each line parses as its R4 type."""
    response = client.get(output["url"])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+ndjson")
    resources = [json.loads(line) for line in response.text.splitlines()]
    assert len(resources) == output["count"]
    for resource in resources:
        assert resource["resourceType"] == output["type"]
        get_fhir_model_class(output["type"]).model_validate(resource)
    return resources


def ids(resources: list[dict]) -> set[str]:
    return {r["id"] for r in resources}


def api_ids(client: httpx.Client, resource_type: str, **params: str) -> set[str]:
    return ids(all_pages(client, f"/{resource_type}", {**params, "_count": "1000"}))


def test_group_create_read_search_update(admin: httpx.Client, group: dict) -> None:
    assert admin.get(f"/Group/{group['id']}").json() == group
    found = all_pages(admin, "/Group", {"member": "Patient/robert-chen"})
    assert group["id"] in ids(found)
    changed = {**group, "member": [*group["member"], {"entity": {"reference": "Patient/extra-member"}}]}
    response = admin.put(f"/Group/{group['id']}", json=changed)
    assert response.status_code == 200 and response.json()["meta"]["versionId"] == "2"
    assert admin.put(f"/Group/{group['id']}", json=group).status_code == 200  # back as the module expects
    bad = admin.post("/Group", json={**group, "id": None, "type": "people"})
    assert bad.status_code == 422 and bad.json()["issue"][0]["expression"] == ["Group.type"]


def test_group_export_holds_only_the_active_members_data(backend: httpx.Client, group: dict) -> None:
    manifest = export(backend, f"/Group/{group['id']}/$export", {"_type": "Patient,Observation,Condition"})
    assert manifest["request"].endswith(f"/Group/{group['id']}/$export?_type=Patient%2CObservation%2CCondition")
    outputs = by_type(manifest)
    assert ids(lines(backend, outputs["Patient"])) == set(MEMBERS)  # not maria-alvarez (inactive)
    observations = lines(backend, outputs["Observation"])
    assert ids(observations) == api_ids(backend, "Observation", patient=",".join(MEMBERS))
    assert {o["subject"]["reference"] for o in observations} <= {f"Patient/{p}" for p in MEMBERS}
    if "Condition" in outputs:
        assert ids(lines(backend, outputs["Condition"])) == api_ids(backend, "Condition", patient=",".join(MEMBERS))


def test_type_filters_are_ored_and_elements_trim(backend: httpx.Client, group: dict) -> None:
    manifest = export(backend, f"/Group/{group['id']}/$export", {
        "_type": "Patient,Observation", "_elements": "Observation.code,Patient.name",
        "_typeFilter": "Observation?category=laboratory,Observation?category=vital-signs"})
    outputs = by_type(manifest)
    members = ",".join(MEMBERS)
    wanted = (api_ids(backend, "Observation", patient=members, category="laboratory")
              | api_ids(backend, "Observation", patient=members, category="vital-signs"))
    observations = lines(backend, outputs["Observation"])
    assert ids(observations) == wanted and len(observations) == len(wanted)
    assert wanted
    for observation in observations:
        assert set(observation) <= {"resourceType", "id", "meta", "status", "code"}
        assert SUBSETTED in observation["meta"]["tag"]
    patients = lines(backend, outputs["Patient"])
    assert all(set(p) <= {"resourceType", "id", "meta", "name"} for p in patients)


def test_type_filter_several_parameters_or_ed(backend: httpx.Client, group: dict, admin: httpx.Client) -> None:
    made = []
    for code in ("11111-1", "22222-2", "33333-3"):
        made.append(admin.post("/Observation", json={
            "resourceType": "Observation", "status": "final", "subject": {"reference": "Patient/jane-doe"},
            "code": {"coding": [{"system": "http://example.org/typefilter", "code": code}]}}).json()["id"])
    manifest = export(backend, f"/Group/{group['id']}/$export", [
        ("_type", "Observation"), ("_typeFilter", "Observation?code=http://example.org/typefilter|11111-1"),
        ("_typeFilter", "Observation?code=http://example.org/typefilter|33333-3&status=final")])  # type: ignore[arg-type]
    assert ids(lines(backend, by_type(manifest)["Observation"])) == {made[0], made[2]}


def test_since_and_patient_in_a_posted_parameters_body(backend: httpx.Client, group: dict,
                                                      admin: httpx.Client) -> None:
    fresh = admin.post("/Observation", json={
        "resourceType": "Observation", "status": "final", "subject": {"reference": "Patient/robert-chen"},
        "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]}}).json()
    admin.post("/Observation", json={
        "resourceType": "Observation", "status": "final", "subject": {"reference": "Patient/jane-doe"},
        "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]}})
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "_since", "valueInstant": fresh["meta"]["lastUpdated"]},
        {"name": "_type", "valueString": "Observation,Patient"},
        {"name": "patient", "valueReference": {"reference": "Patient/robert-chen"}}]}
    outputs = by_type(export(backend, f"/Group/{group['id']}/$export", body=body))
    assert ids(lines(backend, outputs["Observation"])) == {fresh["id"]}
    assert "Patient" not in outputs  # robert-chen did not change since
    everyone = by_type(export(backend, "/Patient/$export", body={**body, "parameter": body["parameter"][1:]}))
    assert ids(lines(backend, everyone["Patient"])) == {"robert-chen"}
    assert ids(lines(backend, everyone["Observation"])) == api_ids(backend, "Observation", patient="robert-chen")


@pytest.mark.parametrize("params", [{"_typeFilter": "Observation?nonsense=1"}, {"_typeFilter": "category=x"},
                                    {"_typeFilter": "Observation?_count=5"}, {"_elements": "Nonsense.code"},
                                    {"patient": "Patient/maria-alvarez"}])
def test_bad_narrowing_is_refused_and_starts_nothing(backend: httpx.Client, group: dict, params: dict) -> None:
    response = backend.get(f"/Group/{group['id']}/$export", params=params, headers=ASYNC)
    assert response.status_code == 400, response.text
    issue = response.json()["issue"][0]
    assert issue["expression"] == [next(iter(params))]
    assert "Content-Location" not in response.headers


def test_who_may_export_a_group(server: RunningServer, backend: httpx.Client, group: dict) -> None:
    with server.client("patient/*.rs", patient="jane-doe", fhirUser="Patient/jane-doe") as patient:
        refused = patient.get(f"/Group/{group['id']}/$export", headers=ASYNC)
        assert refused.status_code == 403 and refused.json()["resourceType"] == "OperationOutcome"
    with server.client("system/Observation.rs") as narrow:
        assert narrow.get(f"/Group/{group['id']}/$export", headers=ASYNC).status_code == 403
    missing = backend.get("/Group/no-such-group/$export", headers=ASYNC)
    assert missing.status_code == 404 and missing.json()["resourceType"] == "OperationOutcome"


def test_cancel_a_group_export(backend: httpx.Client, group: dict) -> None:
    kick = backend.get(f"/Group/{group['id']}/$export", params={"_type": "Patient"}, headers=ASYNC)
    status_url = kick.headers["Content-Location"]
    assert backend.delete(status_url).status_code == 202
    assert backend.get(status_url).status_code == 404
