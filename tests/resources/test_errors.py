"""Bad input of every kind answers an OperationOutcome naming the problem, and writes nothing."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import RunningServer
from tests.support.shared_data import SHARED_DATA, require_shared_data


def outcome(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return body["issue"][0]


def count(db, resource_type: str) -> int:  # type: ignore[no-untyped-def]
    return db[resource_type].count_documents({}) + db["history"].count_documents({"t": resource_type})


def test_invalid_resource_names_the_element_and_writes_nothing(admin: httpx.Client, db) -> None:  # type: ignore[no-untyped-def]
    before = count(db, "Observation")
    issue = outcome(admin.post("/Observation", json={"resourceType": "Observation", "status": 7, "code": {}}), 422)
    assert "Observation.status" in issue["expression"]
    assert count(db, "Observation") == before


def test_wrong_resource_type_id_mismatch_and_malformed_json(admin: httpx.Client) -> None:
    issue = outcome(admin.post("/Observation", json={"resourceType": "Patient"}), 400)
    assert "does not match" in issue["diagnostics"]
    issue = outcome(admin.put("/Patient/abc", json={"resourceType": "Patient", "id": "xyz"}), 400)
    assert "differs" in issue["diagnostics"]
    issue = outcome(admin.post("/Patient", content=b'{"resourceType": "Patient",',
                               headers={"Content-Type": "application/fhir+json"}), 400)
    assert "not valid JSON" in issue["diagnostics"]


def test_xml_is_refused_with_415(admin: httpx.Client) -> None:
    issue = outcome(admin.post("/Patient", content=b"<Patient xmlns='http://hl7.org/fhir'/>",
                               headers={"Content-Type": "application/fhir+xml"}), 415)
    assert "JSON only" in issue["diagnostics"]


def test_oversized_body_is_refused(admin: httpx.Client, server: RunningServer) -> None:
    big = b'{"resourceType": "Patient", "text": "' + b"x" * (server.settings.max_body_bytes + 10) + b'"}'
    issue = outcome(admin.post("/Patient", content=big, headers={"Content-Type": "application/fhir+json"}), 413)
    assert "MiB" in issue["diagnostics"]


def test_unknown_type_and_unknown_id(admin: httpx.Client) -> None:
    issue = outcome(admin.get("/Spaceship/1"), 404)
    assert "Spaceship" in issue["diagnostics"]
    outcome(admin.get("/Patient/does-not-exist"), 404)
    outcome(admin.get("/Patient/jane-doe/_history/999"), 404)


def test_no_token_is_401_with_challenge(server: RunningServer) -> None:
    response = httpx.get(f"{server.fhir}/Patient/jane-doe")
    issue = outcome(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert issue["code"] == "login"
    assert httpx.get(f"{server.fhir}/metadata").status_code == 200


def test_tampered_and_foreign_audience_tokens_are_refused(server: RunningServer) -> None:
    token = server.token()
    head, payload, signature = token.split(".")
    tampered = f"{head}.{payload}.{signature[:-4]}AAAA"
    from fhir_server.smart import keys
    from fhir_server.smart.tokens import issue_access_token

    foreign, _ = issue_access_token(keys.load_or_create(server.settings.data_dir), issuer=server.settings.base_url,
                                    audience="https://other.example.org/fhir", subject="x", scope="system/*.rs",
                                    ttl=60)
    for bad in (tampered, "not-a-jwt", foreign):
        response = httpx.get(f"{server.fhir}/Patient/jane-doe", headers={"Authorization": f"Bearer {bad}"})
        outcome(response, 401)


@pytest.mark.parametrize("scope", ["system/Observation.rs", "system/Patient.read"])
def test_missing_scope_is_403(server: RunningServer, scope: str) -> None:
    with server.client(scope) as client:
        issue = outcome(client.post("/Patient", json={"resourceType": "Patient"}), 403)
        assert "create on Patient" in issue["diagnostics"]


def test_us_core_report_with_text_but_no_div_is_an_outcome_not_a_500(admin: httpx.Client) -> None:
    path = require_shared_data(SHARED_DATA / "us-core-examples" / "diagnosticreport-cbc.json")
    response = admin.post("/DiagnosticReport", content=path.read_bytes(),
                          headers={"Content-Type": "application/fhir+json"})
    issue = outcome(response, 422)
    assert "text" in issue["diagnostics"]


def test_a_patient_token_reads_only_its_own_binaries(server: RunningServer, admin: httpx.Client) -> None:
    own = admin.post("/Binary", json={"resourceType": "Binary", "contentType": "text/plain", "data": "aGVsbG8=",
                                      "securityContext": {"reference": "Patient/jane-doe"}}).json()
    other = admin.post("/Binary", json={"resourceType": "Binary", "contentType": "text/plain", "data": "aGk=",
                                        "securityContext": {"reference": "Patient/robert-chen"}}).json()
    loose = admin.post("/Binary", json={"resourceType": "Binary", "contentType": "text/plain", "data": "eA=="}).json()
    with server.client("patient/*.rs", patient="jane-doe", fhirUser="Patient/jane-doe") as jane:
        assert jane.get(f"/Binary/{own['id']}").status_code == 200
        assert jane.get(f"/Binary/{other['id']}").status_code == 404
        assert jane.get(f"/Binary/{loose['id']}").status_code == 404
