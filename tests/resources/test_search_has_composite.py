"""Reverse chaining (_has) and the composite parameters of R4 Observation, over HTTP."""

from __future__ import annotations

import uuid

import httpx
import pytest

from fhir_server.resources.search import UNRESTRICTED
from fhir_server.resources.search.execute import plan_for
from tests.conftest import RunningServer
from tests.support.fhir import all_pages

SYSTEM = f"http://example.org/labs-{uuid.uuid4().hex[:8]}"  # this run's own codes: no other test's data matches
PANEL, SYSTOLIC, DIASTOLIC, HGB, COLOUR = "bp", "systolic", "diastolic", "hgb", "colour"


def coded(code: str) -> dict:
    return {"coding": [{"system": SYSTEM, "code": code}]}


def quantity(value: float, unit: str = "mm[Hg]") -> dict:
    return {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}


@pytest.fixture(scope="module")
def people(admin: httpx.Client) -> dict[str, str]:
    """high: BP 150/95; normal: BP 120/80; anaemic: Hb 11 g/dL and a coded and a text result."""
    ids = {}
    for who in ("high", "normal", "anaemic"):
        ids[who] = admin.post("/Patient", json={"resourceType": "Patient", "name": [{"family": f"Has-{who}"}]}
                              ).json()["id"]
    for who, systolic, diastolic in (("high", 150, 95), ("normal", 120, 80)):
        ids[f"{who}-bp"] = admin.post("/Observation", json={
            "resourceType": "Observation", "status": "final", "code": coded(PANEL),
            "subject": {"reference": f"Patient/{ids[who]}"},
            "component": [{"code": coded(SYSTOLIC), "valueQuantity": quantity(systolic)},
                          {"code": coded(DIASTOLIC), "valueQuantity": quantity(diastolic)}]}).json()["id"]
    subject = {"reference": f"Patient/{ids['anaemic']}"}
    ids["hgb"] = admin.post("/Observation", json={
        "resourceType": "Observation", "status": "final", "code": coded(HGB), "subject": subject,
        "valueQuantity": quantity(11, "g/dL")}).json()["id"]
    ids["colour"] = admin.post("/Observation", json={
        "resourceType": "Observation", "status": "final", "code": coded(COLOUR), "subject": subject,
        "valueCodeableConcept": coded("amber"), "note": [{"text": "x"}]}).json()["id"]
    ids["text"] = admin.post("/Observation", json={
        "resourceType": "Observation", "status": "final", "code": coded("comment"), "subject": subject,
        "valueString": "Slightly turbid"}).json()["id"]
    return ids


def found(client: httpx.Client, resource_type: str, **params: str) -> set[str]:
    return {r["id"] for r in all_pages(client, f"/{resource_type}", params)}


def test_has_selects_the_patients_that_matching_observations_reference(admin: httpx.Client, people: dict) -> None:
    assert found(admin, "Patient", **{"_has:Observation:patient:code": f"{SYSTEM}|{HGB}"}) == {people["anaemic"]}
    assert found(admin, "Patient", **{"_has:Observation:subject:code": f"{SYSTEM}|{PANEL}"}) == {
        people["high"], people["normal"]}
    # ANDed with the Patient's own criteria, and with a second _has.
    assert found(admin, "Patient", **{"_has:Observation:patient:code": f"{SYSTEM}|{PANEL}",
                                      "family": "Has-high"}) == {people["high"]}
    both = [("_has:Observation:patient:code", f"{SYSTEM}|{HGB}"), ("_has:Observation:patient:code",
                                                                    f"{SYSTEM}|{COLOUR}")]
    response = admin.get("/Patient", params=both)
    assert [e["resource"]["id"] for e in response.json()["entry"]] == [people["anaemic"]]
    assert found(admin, "Patient", **{"_has:Observation:patient:code": f"{SYSTEM}|nothing"}) == set()


@pytest.mark.parametrize("key", ["_has:Nothing:patient:code", "_has:Observation:performer2:code",
                                 "_has:Observation:patient:nonsense", "_has:Observation:patient",
                                 "_has:Observation:patient:_has:Encounter:subject:status"])
def test_a_has_that_cannot_run_is_a_400_naming_it(admin: httpx.Client, key: str) -> None:
    response = admin.get("/Patient", params={key: "x"}, headers={"Prefer": "handling=strict"})
    assert response.status_code == 400, response.text
    assert response.json()["issue"][0]["expression"] == [key]


def test_has_stays_inside_a_patient_tokens_compartment(server: RunningServer, people: dict) -> None:
    with server.client("patient/*.rs", patient=people["high"], fhirUser=f"Patient/{people['high']}") as app:
        mine = found(app, "Patient", **{"_has:Observation:patient:code": f"{SYSTEM}|{PANEL}"})
        assert mine == {people["high"]}  # not the other patient whose Observation matches too


def test_component_code_value_quantity_pairs_code_and_value_in_one_component(admin: httpx.Client,
                                                                             people: dict) -> None:
    def search(value: str) -> set[str]:
        return found(admin, "Observation", **{"component-code-value-quantity": value})

    assert search(f"{SYSTEM}|{SYSTOLIC}$gt140") == {people["high-bp"]}
    assert search(f"{SYSTEM}|{SYSTOLIC}$gt100") == {people["high-bp"], people["normal-bp"]}
    # The flat AND (a component coded diastolic, some component above 140) matches 150/95; the pair does not.
    flat = found(admin, "Observation", **{"component-code": f"{SYSTEM}|{DIASTOLIC}",
                                          "component-value-quantity": "gt140"})
    assert flat == {people["high-bp"]}
    assert search(f"{SYSTEM}|{DIASTOLIC}$gt140") == set()
    assert search(f"{SYSTEM}|{DIASTOLIC}$ge95|http://unitsofmeasure.org|mm[Hg]") == {people["high-bp"]}
    assert search(f"{SYSTEM}|{DIASTOLIC}$gt90,{SYSTEM}|{SYSTOLIC}$lt125") == {people["high-bp"], people["normal-bp"]}


def test_code_value_and_combo_composites(admin: httpx.Client, people: dict) -> None:
    assert found(admin, "Observation", **{"code-value-quantity": f"{SYSTEM}|{HGB}$lt12"}) == {people["hgb"]}
    assert found(admin, "Observation", **{"code-value-quantity": f"{SYSTEM}|{HGB}$gt12"}) == set()
    assert found(admin, "Observation", **{"code-value-concept": f"{SYSTEM}|{COLOUR}${SYSTEM}|amber"}) == {
        people["colour"]}
    assert found(admin, "Observation", **{"code-value-concept": f"{SYSTEM}|{COLOUR}${SYSTEM}|red"}) == set()
    assert found(admin, "Observation", **{"code-value-string": f"{SYSTEM}|comment$slightly"}) == {people["text"]}
    # combo: the Observation's own code and value, or any one component's.
    assert found(admin, "Observation", **{"combo-code-value-quantity": f"{SYSTEM}|{HGB}$lt12"}) == {people["hgb"]}
    assert found(admin, "Observation", **{"combo-code-value-quantity": f"{SYSTEM}|{SYSTOLIC}$gt140"}) == {
        people["high-bp"]}
    # code-value-* is the Observation's own code: a component's does not count.
    assert found(admin, "Observation", **{"code-value-quantity": f"{SYSTEM}|{SYSTOLIC}$gt140"}) == set()


@pytest.mark.parametrize("value", ["no-dollar", "$gt5", f"{SYSTEM}|{HGB}$", f"{SYSTEM}|{HGB}$notanumber"],
                         ids=["no-dollar", "no-code", "no-value", "not-a-number"])
def test_a_malformed_composite_value_is_a_400(admin: httpx.Client, value: str) -> None:
    response = admin.get("/Observation", params={"code-value-quantity": value})
    assert response.status_code == 400, response.text
    assert response.json()["issue"][0]["expression"] == ["code-value-quantity"]


def test_composites_are_driven_by_the_token_index() -> None:
    plan = plan_for("Observation", [("component-code-value-quantity", f"{SYSTEM}|{SYSTOLIC}$gt140")],
                    base_url="http://x/fhir", scope=UNRESTRICTED)
    assert plan.driver == "idx.tok" and plan.filter["idx.tok"] == f"component-code\x1fs:{SYSTEM}|{SYSTOLIC}"
    assert plan.residual  # the pairing is checked on each streamed match
