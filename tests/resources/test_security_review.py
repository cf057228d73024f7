"""Low findings of the security review (issue 13) on the FHIR API: a batch read of another
patient's deleted resource answers 404 as a direct read does (6), and crafted input gets a 400
OperationOutcome that says what is wrong, never a 500 (8)."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

FHIR_JSON = {"Content-Type": "application/fhir+json"}


def b64(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def outcome_of(response: httpx.Response, status: int = 400) -> str:
    assert response.status_code == status, response.text[:500]
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return str(body["issue"][0]["diagnostics"])


def test_a_batch_read_of_another_patients_deleted_resource_is_404(server: Any, admin: httpx.Client) -> None:
    patients = [admin.post("/Patient", headers=FHIR_JSON, json={"resourceType": "Patient"}).json()["id"]
                for _ in range(2)]
    owner, other = patients
    note = admin.post("/Observation", headers=FHIR_JSON, json={
        "resourceType": "Observation", "status": "final", "code": {"text": "note"},
        "subject": {"reference": f"Patient/{owner}"}}).json()
    assert admin.delete(f"/Observation/{note['id']}").status_code == 204
    batch = {"resourceType": "Bundle", "type": "batch",
             "entry": [{"request": {"method": "GET", "url": f"Observation/{note['id']}"}}]}
    for pid, expected in ((other, "404"), (owner, "410")):
        with server.client("patient/*.rs", patient=pid) as api:
            assert api.get(f"/Observation/{note['id']}").status_code == int(expected)
            answered = api.post("", headers=FHIR_JSON, json=batch).json()
            assert answered["entry"][0]["response"]["status"].startswith(expected), (pid, answered)


FORGED_SEARCH_CURSORS = [
    b64({"k": 5}),
    b64({"t": "Observation", "k": 5, "i": "x", "d": "n"}),
    b64({"t": "Observation", "k": [{"$gt": ""}], "i": "x", "d": "n"}),
    b64({"t": "Observation", "k": ["x"], "i": ["x"], "d": "p"}),
    b64([1, 2, 3]),
    "not base64 at all!",
]


@pytest.mark.parametrize("cursor", FORGED_SEARCH_CURSORS)
@pytest.mark.parametrize("sort", ["", "_lastUpdated", "-date"])
def test_a_forged_search_cursor_is_a_400(admin: httpx.Client, cursor: str, sort: str) -> None:
    params = {"_cursor": cursor, **({"_sort": sort} if sort else {})}
    assert "_cursor" in outcome_of(admin.get("/Observation", params=params))


def test_a_forged_lastupdated_bound_is_a_400(admin: httpx.Client) -> None:
    cursor = b64({"t": "Observation", "k": ["yesterday"], "i": "x", "d": "n"})
    assert "_cursor" in outcome_of(admin.get("/Observation", params={"_sort": "_lastUpdated", "_cursor": cursor}))


@pytest.mark.parametrize("cursor", [b64({"k": 5}), b64(["not-a-date", "x"]), b64([5, 6]), "%%%"])
def test_forged_history_and_everything_cursors_are_400s(admin: httpx.Client, cursor: str) -> None:
    assert "_cursor" in outcome_of(admin.get("/Patient/_history", params={"_cursor": cursor}))
    assert "_cursor" in outcome_of(admin.get("/Patient/jane-doe/$everything", params={"_cursor": cursor}))


def test_a_number_of_5000_digits_is_a_400(admin: httpx.Client) -> None:
    body = ('{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueInteger":'
            + "9" * 5000 + "}")
    said = outcome_of(admin.post("/Observation", headers=FHIR_JSON, content=body))
    assert "too many digits" in said


@pytest.mark.parametrize("depth", [100_000, 150])
def test_deep_nesting_is_a_400(admin: httpx.Client, depth: int) -> None:
    body = '{"resourceType":"Basic","code":{"text":"x"},"extension":' + "[" * depth + "]" * depth + "}"
    assert "nested deeper than" in outcome_of(admin.post("/Basic", headers=FHIR_JSON, content=body))
    # The same inside a batch entry's JSON Patch, and on the SMART Health Link manifest.
    patch = base64.b64encode(("[" * depth + "]" * depth).encode()).decode()
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [{
        "request": {"method": "PATCH", "url": "Patient/jane-doe"},
        "resource": {"resourceType": "Binary", "contentType": "application/json-patch+json", "data": patch}}]}
    answered = admin.post("", headers=FHIR_JSON, json=batch).json()
    assert answered["entry"][0]["response"]["status"].startswith("400"), answered


def test_deep_nesting_on_the_link_manifest_is_a_400(server: Any) -> None:
    body = "[" * 100_000 + "]" * 100_000
    answered = httpx.post(f"{server.url}/shl/manifest/whatever", content=body,
                          headers={"Content-Type": "application/json"})
    assert answered.status_code == 400 and answered.json()["error"] == "invalid-request"
