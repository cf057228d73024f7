"""Bulk Data $export over real HTTP: kick-off, status polling, NDJSON download, who may see a job,
cancel, expiry and a job orphaned by a restart."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fhir.resources.R4B import get_fhir_model_class

from fhir_server.resources.operations import export
from tests.conftest import RunningServer

ASYNC = {"Prefer": "respond-async", "Accept": "application/fhir+json"}


def kick_off(client: httpx.Client, path: str = "/$export", **params: str) -> str:
    response = client.get(path, params=params, headers=ASYNC)
    assert response.status_code == 202, response.text
    return response.headers["Content-Location"]


def wait_for(client: httpx.Client, status_url: str) -> dict:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        response = client.get(status_url)
        if response.status_code == 200:
            return response.json()
        assert response.status_code == 202, response.text
        assert response.headers["X-Progress"]
        time.sleep(0.1)
    raise AssertionError("the export did not complete within 20 s")


def download(client: httpx.Client, url: str) -> list[dict]:
    response = client.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+ndjson")
    return [json.loads(line) for line in response.text.splitlines()]


def by_type(manifest: dict) -> dict[str, dict]:
    return {o["type"]: o for o in manifest["output"]}


def all_ids(client: httpx.Client, resource_type: str) -> set[str]:
    ids: set[str] = set()
    url: str | None = f"/{resource_type}?_elements=id&_count=1000"
    while url:
        bundle = client.get(url).json()
        ids |= {e["resource"]["id"] for e in bundle.get("entry", [])}
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
    return ids


@pytest.fixture(scope="module")
def system_client(server: RunningServer) -> Iterator[httpx.Client]:
    with server.client("system/*.rs") as client:
        yield client


@pytest.fixture(scope="module")
def full_export(system_client: httpx.Client) -> tuple[str, dict]:
    status_url = kick_off(system_client)
    return status_url, wait_for(system_client, status_url)


def test_kick_off_without_prefer_respond_async_is_refused(system_client: httpx.Client) -> None:
    response = system_client.get("/$export", headers={"Accept": "application/fhir+json"})
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"
    assert "respond-async" in response.json()["issue"][0]["diagnostics"]


def test_kick_off_without_accept_fhir_json_is_refused(system_client: httpx.Client) -> None:
    response = system_client.get("/$export", headers={"Prefer": "respond-async", "Accept": "text/html"})
    assert response.status_code == 400
    assert "Accept" in response.json()["issue"][0]["diagnostics"]


@pytest.mark.parametrize("params", [{"_outputFormat": "text/csv"}, {"_since": "yesterday"},
                                    {"_typeFilter": "Observation?no-such-param=1"}, {"_type": "Nonsense"}])
def test_kick_off_with_bad_parameters_is_refused(system_client: httpx.Client, params: dict[str, str]) -> None:
    response = system_client.get("/$export", params=params, headers=ASYNC)
    assert response.status_code in (400, 404), response.text
    assert response.json()["resourceType"] == "OperationOutcome"


def test_too_many_exports_at_once_are_throttled(system_client: httpx.Client,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export, "MAX_RUNNING", 0)
    response = system_client.get("/$export", headers=ASYNC)
    assert response.status_code == 429
    assert response.headers["Retry-After"]


def test_manifest_counts_match_the_api(system_client: httpx.Client) -> None:
    # Its own export, compared at once: a module-wide one would race every test that writes since.
    status_url = kick_off(system_client)
    manifest = wait_for(system_client, status_url)
    assert manifest["requiresAccessToken"] is True
    assert manifest["request"].endswith("/fhir/$export")
    assert datetime.fromisoformat(manifest["transactionTime"]) <= datetime.now(UTC)
    outputs = by_type(manifest)
    assert {"Patient", "Observation", "DocumentReference", "Communication", "CareTeam", "Consent"} <= set(outputs)
    assert "Binary" not in outputs
    for resource_type, output in outputs.items():
        assert output["url"].startswith(status_url.split("/$export-status/")[0] + "/$export-file/")
        if resource_type == "AuditEvent":
            continue  # every request writes one: the API's count has moved on since transactionTime
        counted = system_client.get(f"/{resource_type}", params={"_summary": "count"}).json()["total"]
        assert output["count"] == counted, resource_type


def test_observation_file_parses_as_r4_with_the_apis_ids(system_client: httpx.Client,
                                                         db) -> None:  # type: ignore[no-untyped-def]
    status_url = kick_off(system_client, _type="Observation")
    output = by_type(wait_for(system_client, status_url))["Observation"]
    job = status_url.rsplit("/", 1)[-1]
    resources = download(system_client, output["url"])
    assert len(resources) == output["count"]
    model = get_fhir_model_class("Observation")
    for resource in resources:
        model.model_validate(resource)
    ids = [r["id"] for r in resources]
    assert len(ids) == len(set(ids))
    assert set(ids) == all_ids(system_client, "Observation")
    # This job's own events: the file written, and the one download above.
    events = [e["res"]["outcomeDesc"] for e in db["AuditEvent"].find(
        {"res.subtype.code": "export", "res.outcomeDesc": {"$regex": job}})]
    assert len([d for d in events if "Observation.ndjson downloaded" in d]) == 1, events
    assert [d for d in events if "written" in d], events


def test_small_pages_neither_repeat_nor_lose_resources(system_client: httpx.Client,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export, "PAGE_SIZE", 40)  # the server runs in this process: force many keyset pages
    output = by_type(wait_for(system_client, kick_off(system_client, _type="Observation")))["Observation"]
    ids = [r["id"] for r in download(system_client, output["url"])]
    assert len(ids) == len(set(ids)) == output["count"]
    assert set(ids) == all_ids(system_client, "Observation")


def test_type_limits_the_output(system_client: httpx.Client) -> None:
    manifest = wait_for(system_client, kick_off(system_client, _type="Patient,Condition"))
    assert set(by_type(manifest)) == {"Patient", "Condition"}


def test_since_exports_only_what_changed(system_client: httpx.Client, admin: httpx.Client) -> None:
    patient = admin.post("/Patient", json={"resourceType": "Patient", "name": [{"family": "Sinceton"}]}).json()
    observation = admin.post("/Observation", json={
        "resourceType": "Observation", "status": "final", "subject": {"reference": f"Patient/{patient['id']}"},
        "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]}}).json()
    since = patient["meta"]["lastUpdated"]
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "_since", "valueInstant": since}, {"name": "_type", "valueString": "Patient"},
        {"name": "_type", "valueString": "Observation"}, {"name": "_outputFormat", "valueString": "ndjson"}]}
    response = system_client.post("/$export", json=body, headers=ASYNC)
    assert response.status_code == 202, response.text
    outputs = by_type(wait_for(system_client, response.headers["Content-Location"]))
    assert [r["id"] for r in download(system_client, outputs["Patient"]["url"])] == [patient["id"]]
    assert [r["id"] for r in download(system_client, outputs["Observation"]["url"])] == [observation["id"]]


def test_patient_level_export_holds_compartment_types(system_client: httpx.Client) -> None:
    manifest = wait_for(system_client, kick_off(system_client, "/Patient/$export", _type="Patient,Observation"))
    assert set(by_type(manifest)) == {"Patient", "Observation"}
    refused = system_client.get("/Patient/$export", params={"_type": "Practitioner"}, headers=ASYNC)
    assert refused.status_code == 400


def test_another_client_sees_nothing_of_the_job(server: RunningServer, full_export: tuple[str, dict]) -> None:
    status_url, manifest = full_export
    with server.client("system/*.rs", client_id="other-ehr", sub="other-ehr") as other:
        assert other.get(status_url).status_code == 404
        assert other.get(manifest["output"][0]["url"]).status_code == 404
        assert other.delete(status_url).status_code == 404
    assert httpx.get(manifest["output"][0]["url"]).status_code == 401


def test_a_patient_token_may_not_export(server: RunningServer) -> None:
    with server.client("patient/*.rs", patient="jane-doe", fhirUser="Patient/jane-doe") as client:
        response = client.get("/$export", headers=ASYNC)
        assert response.status_code == 403
        assert client.get("/Patient/$export", headers=ASYNC).status_code == 403


def test_delete_cancels_and_removes_the_files(system_client: httpx.Client, db) -> None:  # type: ignore[no-untyped-def]
    status_url = kick_off(system_client, _type="Patient,Observation")
    manifest = wait_for(system_client, status_url)
    job_id = status_url.rsplit("/", 1)[-1]
    assert db["export.files"].count_documents({"metadata.job": job_id}) == 2
    assert system_client.delete(status_url).status_code == 202
    assert system_client.get(status_url).status_code == 404
    assert system_client.get(manifest["output"][0]["url"]).status_code == 404
    assert db["export.files"].count_documents({"metadata.job": job_id}) == 0
    assert db["export_jobs"].count_documents({"_id": job_id}) == 0
    running = kick_off(system_client)  # cancelled while (probably) still writing
    assert system_client.delete(running).status_code == 202
    assert db["export.files"].count_documents({"metadata.job": running.rsplit("/", 1)[-1]}) == 0


def test_an_expired_job_is_gone_with_its_files(system_client: httpx.Client, db) -> None:  # type: ignore[no-untyped-def]
    status_url = kick_off(system_client, _type="Condition")
    wait_for(system_client, status_url)
    job_id = status_url.rsplit("/", 1)[-1]
    db["export_jobs"].update_one({"_id": job_id}, {"$set": {"expires": datetime.now(UTC) - timedelta(seconds=1)}})
    assert system_client.get(status_url).status_code == 404
    assert db["export.files"].count_documents({"metadata.job": job_id}) == 0


def test_a_job_orphaned_by_a_restart_fails(system_client: httpx.Client, db) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    db["export_jobs"].insert_one({
        "_id": "orphan-job", "client": "tests", "subject": "test-admin", "request": "x", "types": ["Patient"],
        "since": None, "state": "running", "progress": "1 of 1 types", "counts": {}, "output": [], "errors": [],
        "created": now - timedelta(hours=1), "transaction_time": now - timedelta(hours=1),
        "expires": now + timedelta(hours=23), "worker": "a-process-gone", "heartbeat": now - timedelta(hours=1)})
    response = system_client.get("/$export-status/orphan-job")
    assert response.status_code == 500
    assert "restarted" in response.json()["issue"][0]["diagnostics"]
    assert system_client.get("/$export-status/orphan-job").status_code == 500
