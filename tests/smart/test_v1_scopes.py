"""SMART v1 scopes (``.read``/``.write``) grant what v2's ``.rs``/``.cud`` do, no more."""

from __future__ import annotations

import httpx

from tests.smart.helpers import add_client, exchange, fhir_get, make_code


def _token(server, scope: str) -> str:  # type: ignore[no-untyped-def]
    client = add_client(server, "public")[0]
    code, verifier = make_code(server, client, f"launch/patient {scope}")
    response = exchange(server, client, code, verifier)
    assert response.status_code == 200, response.text
    assert scope in response.json()["scope"]
    return str(response.json()["access_token"])


def _create(server, token: str) -> httpx.Response:  # type: ignore[no-untyped-def]
    return httpx.post(f"{server.fhir}/Observation", timeout=30, headers={"Authorization": f"Bearer {token}"}, json={
        "resourceType": "Observation", "status": "final", "code": {"text": "v1 scope test"},
        "subject": {"reference": "Patient/jane-doe"}})


def test_v1_read_reads_that_type_of_the_patient_only(server) -> None:  # type: ignore[no-untyped-def]
    token = _token(server, "patient/Observation.read")
    found = fhir_get(server, token, "Observation?patient=jane-doe&_count=5")
    assert found.status_code == 200 and len(found.json()["entry"]) == 5
    assert fhir_get(server, token, "Condition?patient=jane-doe").status_code == 403
    other = fhir_get(server, token, "Observation?patient=robert-chen")
    assert other.status_code == 200 and other.json()["total"] == 0 and not other.json().get("entry")
    assert _create(server, token).status_code == 403


def test_v1_write_writes_and_wildcard_read_reads_every_type(server) -> None:  # type: ignore[no-untyped-def]
    token = _token(server, "patient/Observation.write patient/*.read")
    created = _create(server, token)
    assert created.status_code == 201, created.text
    assert fhir_get(server, token, f"Observation/{created.json()['id']}").status_code == 200
    assert fhir_get(server, token, "Condition?patient=jane-doe").status_code == 200
    refused = httpx.post(f"{server.fhir}/Condition", timeout=30, headers={"Authorization": f"Bearer {token}"},
                         json={"resourceType": "Condition", "subject": {"reference": "Patient/jane-doe"}})
    assert refused.status_code == 403
