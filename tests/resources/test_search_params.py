"""Search parameters the README promises that no other test exercised: _lastUpdated, _tag,
_profile, _summary=true, uri parameters and the :identifier modifier, each over HTTP and
against resources this test made (found by a marker of their own)."""

from __future__ import annotations

import uuid

import httpx
import pytest


def ids(bundle: dict) -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e.get("search", {}).get("mode") == "match"]


@pytest.fixture(scope="module")
def marked(admin: httpx.Client) -> dict:
    """Two Patients with this module's own tag (one with a profile) and an Observation that names
    its patient by identifier only."""
    tag = uuid.uuid4().hex[:10]
    profile = f"https://example.org/StructureDefinition/test-{tag}"
    labels = [{"system": "https://example.org/tags", "code": tag}]
    first = admin.post("/Patient", json={"resourceType": "Patient", "name": [{"family": "Tagged"}],
                                         "meta": {"tag": labels, "profile": [profile]}}).json()
    second = admin.post("/Patient", json={"resourceType": "Patient", "name": [{"family": "Tagged"}],
                                          "meta": {"tag": labels}}).json()
    observation = admin.post("/Observation", json={
        "resourceType": "Observation", "status": "final", "code": {"text": "pulse"},
        "note": [{"text": "not a summary element"}],
        "subject": {"identifier": {"system": "https://example.org/mrn", "value": f"MRN-{tag}"}}}).json()
    return {"tag": tag, "profile": profile, "first": first, "second": second, "observation": observation}


def test_tag_and_profile(admin: httpx.Client, marked: dict) -> None:
    tagged = admin.get("/Patient", params={"_tag": f"https://example.org/tags|{marked['tag']}"}).json()
    assert sorted(ids(tagged)) == sorted([marked["first"]["id"], marked["second"]["id"]])
    assert ids(admin.get("/Patient", params={"_tag": f"https://other.example|{marked['tag']}"}).json()) == []
    profiled = admin.get("/Patient", params={"_profile": marked["profile"]}).json()
    assert ids(profiled) == [marked["first"]["id"]]


def test_last_updated(admin: httpx.Client, marked: dict) -> None:
    tag = f"https://example.org/tags|{marked['tag']}"
    first, second = marked["first"]["meta"]["lastUpdated"], marked["second"]["meta"]["lastUpdated"]
    assert first < second
    after = admin.get("/Patient", params={"_tag": tag, "_lastUpdated": f"gt{first}"}).json()
    assert ids(after) == [marked["second"]["id"]]
    upto = admin.get("/Patient", params={"_tag": tag, "_lastUpdated": f"le{first}"}).json()
    assert ids(upto) == [marked["first"]["id"]]
    bad = admin.get("/Patient", params={"_lastUpdated": "yesterday"})
    assert bad.status_code == 400 and bad.json()["resourceType"] == "OperationOutcome"


def test_summary_true_keeps_summary_elements_and_marks_the_result(admin: httpx.Client, marked: dict) -> None:
    bundle = admin.get("/Observation", params={"_id": marked["observation"]["id"], "_summary": "true"}).json()
    [resource] = [e["resource"] for e in bundle["entry"]]
    assert resource["code"] == {"text": "pulse"} and resource["status"] == "final"
    assert "note" not in resource
    assert any(t.get("code") == "SUBSETTED" for t in resource["meta"].get("tag", []))


def test_reference_by_identifier(admin: httpx.Client, marked: dict) -> None:
    found = admin.get("/Observation", params={"subject:identifier": f"https://example.org/mrn|MRN-{marked['tag']}"})
    assert ids(found.json()) == [marked["observation"]["id"]]
    assert ids(admin.get("/Observation", params={"subject:identifier": f"https://example.org/mrn|MRN-x{marked['tag']}"
                                                 }).json()) == []


def test_uri_parameters_match_exactly_and_below(admin: httpx.Client) -> None:
    base = f"https://example.org/Questionnaire/{uuid.uuid4().hex[:8]}"
    made = admin.post("/Questionnaire", json={"resourceType": "Questionnaire", "status": "active",
                                              "url": f"{base}/intake"}).json()
    assert ids(admin.get("/Questionnaire", params={"url": f"{base}/intake"}).json()) == [made["id"]]
    assert ids(admin.get("/Questionnaire", params={"url": f"{base}/INTAKE"}).json()) == []  # uris are exact
    assert ids(admin.get("/Questionnaire", params={"url": base}).json()) == []
    assert ids(admin.get("/Questionnaire", params={"url:below": base}).json()) == [made["id"]]
