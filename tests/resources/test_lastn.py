"""Observation/$lastn: the latest N results of each code, the portal's "latest result of each
test", from one indexed query."""

from __future__ import annotations

import uuid

import httpx

from fhir_server.portal.health.labs import group_tests
from fhir_server.resources.operations.lastn import lastn_plan
from fhir_server.resources.search import UNRESTRICTED
from tests.conftest import RunningServer
from tests.support.fhir import all_pages
from tests.threaded import run_coroutine

LAB = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}
VITALS = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}
HGB, WBC = "718-7", "6690-2"


def observation(patient: str, loinc: str, when: str, value: float, *, category: dict = LAB,
                status: str = "final") -> dict:
    return {"resourceType": "Observation", "status": status, "category": [category],
            "code": {"coding": [{"system": "http://loinc.org", "code": loinc}], "text": f"test {loinc}"},
            "subject": {"reference": f"Patient/{patient}"}, "effectiveDateTime": when,
            "valueQuantity": {"value": value, "unit": "g/dL"}}


def patient_with_results(admin: httpx.Client) -> str:
    pid = admin.post("/Patient", json={"resourceType": "Patient", "name": [{"family": f"Lastn-{uuid.uuid4().hex[:6]}"}]}
                     ).json()["id"]
    entries = [observation(pid, HGB, f"2026-0{m}-01", 10 + m) for m in range(1, 5)]
    entries += [observation(pid, WBC, "2026-02-10", 6.1), observation(pid, WBC, "2026-03-10", 6.2),
                observation(pid, WBC, "2026-09-01", 99, status="entered-in-error"),
                observation(pid, "8867-4", "2026-05-01", 70, category=VITALS),
                {**observation(pid, "x", "2026-06-01", 1), "code": {"text": "Free-text test"}}]
    bundle = {"resourceType": "Bundle", "type": "transaction",
              "entry": [{"resource": e, "request": {"method": "POST", "url": "Observation"}} for e in entries]}
    assert admin.post("", json=bundle).status_code == 200
    return pid


def values(bundle: dict) -> list[tuple[str, float]]:
    return [(e["resource"]["code"].get("coding", [{"code": e["resource"]["code"].get("text")}])[0]["code"],
             e["resource"]["valueQuantity"]["value"]) for e in bundle["entry"]]


def test_latest_n_of_each_code_newest_first(admin: httpx.Client) -> None:
    pid = patient_with_results(admin)
    one = admin.get("/Observation/$lastn", params={"patient": pid, "category": "laboratory"})
    assert one.status_code == 200, one.text
    body = one.json()
    assert body["type"] == "searchset" and body["total"] == 3
    assert sorted(values(body)) == sorted([("Free-text test", 1), (HGB, 14), (WBC, 6.2)])  # not the entered-in-error 99
    two = admin.get("/Observation/$lastn", params={"patient": pid, "category": "laboratory", "max": "2"}).json()
    assert sorted(values(two)) == sorted([("Free-text test", 1), (HGB, 13), (HGB, 14), (WBC, 6.1), (WBC, 6.2)])
    hgb = [v for c, v in values(two) if c == HGB]
    assert hgb == [14, 13]  # newest first inside a code
    coded = admin.get("/Observation/$lastn", params={"patient": f"Patient/{pid}", "code": f"http://loinc.org|{HGB}",
                                                      "max": "10"}).json()
    assert values(coded) == [(HGB, 14), (HGB, 13), (HGB, 12), (HGB, 11)]
    every = admin.get("/Observation/$lastn", params={"subject": f"Patient/{pid}"}).json()
    assert ("8867-4", 70) in values(every) and every["total"] == 4


def test_the_same_answer_as_the_portals_latest_result_of_each_test(admin: httpx.Client) -> None:
    for pid in ("jane-doe", "robert-chen", patient_with_results(admin)):
        labs = all_pages(admin, "/Observation", {"patient": pid, "category": "laboratory", "_sort": "-date",
                                                  "_count": "1000"})
        portal = {t.latest.id for t in group_tests(labs)}
        lastn = admin.get("/Observation/$lastn", params={"patient": pid, "category": "laboratory"}).json()
        assert {e["resource"]["id"] for e in lastn.get("entry", [])} == portal, pid
        assert portal or pid != "jane-doe"


def test_a_patient_token_gets_its_own_patients_latest_without_naming_it(server: RunningServer,
                                                                        admin: httpx.Client) -> None:
    pid = patient_with_results(admin)
    other = patient_with_results(admin)
    with server.client("patient/Observation.rs", patient=pid, fhirUser=f"Patient/{pid}") as app:
        mine = app.get("/Observation/$lastn", params={"category": "laboratory"})
        assert mine.status_code == 200, mine.text
        assert {e["resource"]["subject"]["reference"] for e in mine.json()["entry"]} == {f"Patient/{pid}"}
        theirs = app.get("/Observation/$lastn", params={"patient": other})
        assert theirs.status_code in (200, 403)
        assert not theirs.json().get("entry")


def test_bad_requests_are_refused_with_an_outcome(admin: httpx.Client) -> None:
    for params, where in (({"category": "laboratory"}, "patient"), ({"patient": "jane-doe", "max": "0"}, "max"),
                          ({"patient": "jane-doe", "max": "two"}, "max"),
                          ({"patient": "jane-doe", "_count": "5"}, "_count"),
                          ({"patient": "jane-doe", "_elements": "code"}, "_elements"),
                          ({"patient": "jane-doe", "bogus-param": "1"}, None)):
        response = admin.get("/Observation/$lastn", params=params)
        assert response.status_code == 400, (params, response.text)
        issue = response.json()["issue"][0]
        assert issue["severity"] == "error"
        if where:
            assert issue["expression"] == [where]


def test_lastn_is_one_query_driven_by_the_patients_index(admin: httpx.Client, server: RunningServer,
                                                          db) -> None:  # type: ignore[no-untyped-def]
    pid = patient_with_results(admin)
    plan, limit = run_coroutine(lastn_plan(None, [("patient", pid), ("category", "laboratory"), ("max", "3")],
                                         scope=UNRESTRICTED, base_url=server.settings.fhir_base))
    assert limit == 3 and plan.driver == "comp"
    stats = db["Observation"].find(plan.filter).sort(plan.mongo_sort(False)).explain()["executionStats"]
    assert stats["totalDocsExamined"] == 9  # the patient's own Observations, not the collection
