"""Token :in / :not-in against ValueSets held on the server, and :below / :above in a CodeSystem
held on the server whose concepts nest."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.support.fhir import all_pages

RUN = uuid.uuid4().hex[:8]
SYSTEM = f"http://example.org/tumours-{RUN}"
VS_LISTED = f"http://example.org/ValueSet/listed-{RUN}"
VS_FILTER = f"http://example.org/ValueSet/carcinomas-{RUN}"
VS_EXPANDED = f"http://example.org/ValueSet/expanded-{RUN}"
# neoplasm > carcinoma > (adenocarcinoma > ductal), squamous;  neoplasm > sarcoma (parent property)
CONCEPTS = [{"code": "neoplasm", "concept": [
    {"code": "carcinoma", "concept": [{"code": "adenocarcinoma", "concept": [{"code": "ductal"}]},
                                      {"code": "squamous"}]}]},
    {"code": "sarcoma", "property": [{"code": "parent", "valueCode": "neoplasm"}]}]


@pytest.fixture(scope="module")
def conditions(admin: httpx.Client) -> dict[str, str]:
    assert admin.post("/CodeSystem", json={"resourceType": "CodeSystem", "url": SYSTEM, "status": "active",
                                           "content": "complete", "concept": CONCEPTS}).status_code == 201
    for body in (
        {"url": VS_LISTED, "compose": {"include": [{"system": SYSTEM, "concept": [{"code": "ductal"},
                                                                                   {"code": "sarcoma"}]}]}},
        {"url": VS_FILTER, "compose": {"include": [{"system": SYSTEM, "filter": [
            {"property": "concept", "op": "is-a", "value": "carcinoma"}]}],
            "exclude": [{"system": SYSTEM, "concept": [{"code": "squamous"}]}]}},
        {"url": VS_EXPANDED, "expansion": {"timestamp": "2026-11-28T00:00:00Z", "contains": [
            {"system": SYSTEM, "code": "squamous"}]}},
    ):
        response = admin.post("/ValueSet", json={"resourceType": "ValueSet", "status": "active", **body})
        assert response.status_code == 201, response.text
    patient = admin.post("/Patient", json={"resourceType": "Patient"}).json()["id"]
    ids = {}
    for code in ("carcinoma", "adenocarcinoma", "ductal", "squamous", "sarcoma"):
        ids[code] = admin.post("/Condition", json={
            "resourceType": "Condition", "subject": {"reference": f"Patient/{patient}"},
            "code": {"coding": [{"system": SYSTEM, "code": code}]}}).json()["id"]
    ids["patient"] = patient
    return ids


def codes(admin: httpx.Client, ids: dict[str, str], **params: str) -> set[str]:
    by_id = {v: k for k, v in ids.items()}
    found = all_pages(admin, "/Condition", {"patient": ids["patient"], **params})
    return {by_id[r["id"]] for r in found}


def test_in_a_listed_value_set(admin: httpx.Client, conditions: dict) -> None:
    assert codes(admin, conditions, **{"code:in": VS_LISTED}) == {"ductal", "sarcoma"}
    assert codes(admin, conditions, **{"code:not-in": VS_LISTED}) == {"carcinoma", "adenocarcinoma", "squamous"}


def test_in_a_value_set_composed_from_the_hierarchy_and_in_an_expansion(admin: httpx.Client,
                                                                        conditions: dict) -> None:
    assert codes(admin, conditions, **{"code:in": VS_FILTER}) == {"carcinoma", "adenocarcinoma", "ductal"}
    assert codes(admin, conditions, **{"code:in": VS_EXPANDED}) == {"squamous"}
    assert codes(admin, conditions, **{"code:in": f"{VS_LISTED},{VS_EXPANDED}"}) == {"ductal", "sarcoma", "squamous"}


def test_below_and_above_follow_the_code_systems_hierarchy(admin: httpx.Client, conditions: dict) -> None:
    assert codes(admin, conditions, **{"code:below": f"{SYSTEM}|carcinoma"}) == {
        "carcinoma", "adenocarcinoma", "ductal", "squamous"}
    assert codes(admin, conditions, **{"code:below": f"{SYSTEM}|neoplasm"}) == {
        "carcinoma", "adenocarcinoma", "ductal", "squamous", "sarcoma"}
    assert codes(admin, conditions, **{"code:above": f"{SYSTEM}|ductal"}) == {"carcinoma", "adenocarcinoma", "ductal"}
    assert codes(admin, conditions, **{"code:above": f"{SYSTEM}|sarcoma"}) == {"sarcoma"}


@pytest.mark.parametrize(("key", "value"), [
    ("code:in", "http://example.org/ValueSet/not-held"), ("code:below", "carcinoma"),
    ("code:below", "http://example.org/no-such-system|x"), ("code:above", f"{SYSTEM}|not-a-code")],
    ids=["in-value-set-not-held", "below-without-system", "below-unknown-system", "above-unknown-code"])
def test_what_the_server_cannot_resolve_is_a_400(admin: httpx.Client, conditions: dict, key: str,
                                                 value: str) -> None:
    response = admin.get("/Condition", params={key: value})
    assert response.status_code == 400, response.text
    issue = response.json()["issue"][0]
    assert issue["expression"] == [key] and issue["diagnostics"]
