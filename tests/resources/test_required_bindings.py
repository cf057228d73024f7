"""Required bindings (R4 terminologies.html#required): a code outside its value set is refused
with 422 and an OperationOutcome naming the element and the allowed codes, on every way in,
and nothing is stored."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx

from fhir_server.resources.bindings import generate

ROOT = Path(__file__).resolve().parents[2]
DEFINITIONS = ROOT / "tests" / "js" / "node_modules" / "@medplum" / "definitions" / "dist" / "fhir" / "r4"
OBSERVATION_STATUS = ["amended", "cancelled", "corrected", "entered-in-error", "final", "preliminary",
                      "registered", "unknown"]


def observation(status: str = "final", marker: str = "bindings") -> dict:
    return {"resourceType": "Observation", "status": status,
            "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}], "text": marker},
            "valueQuantity": {"value": 5.4, "unit": "mmol/L", "system": "http://unitsofmeasure.org",
                              "code": "mmol/L"}}


def assert_refused(response: httpx.Response, path: str, value: str, allowed: list[str]) -> None:
    assert response.status_code == 422, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    issue = outcome["issue"][0]
    assert issue["severity"] == "error" and issue["code"] == "code-invalid"
    assert path in issue["expression"] or any(e.endswith(path.split(".", 1)[1]) for e in issue["expression"])
    assert f"'{value}'" in issue["diagnostics"]
    assert ", ".join(allowed) in issue["diagnostics"]


def count(admin: httpx.Client, marker: str) -> int:
    found = admin.get("/Observation", params={"code:text": marker, "_summary": "count"})
    assert found.status_code == 200, found.text
    return found.json()["total"]


def test_create_with_a_status_outside_the_value_set_is_refused(admin: httpx.Client) -> None:
    response = admin.post("/Observation", json=observation("not-a-status", "bindings-create"))
    assert_refused(response, "Observation.status", "not-a-status", OBSERVATION_STATUS)
    assert count(admin, "bindings-create") == 0
    assert admin.post("/Observation", json=observation("corrected", "bindings-create")).status_code == 201


def test_nested_datatype_codes_are_checked_with_their_path(admin: httpx.Client) -> None:
    patient = {"resourceType": "Patient", "gender": "female",
               "name": [{"family": "Binding", "use": "official"}, {"family": "Other", "use": "nick"}],
               "telecom": [{"system": "pager-ish", "value": "1"}]}
    response = admin.post("/Patient", json=patient)
    assert response.status_code == 422, response.text
    issue = response.json()["issue"][0]
    assert issue["expression"] == ["Patient.name[1].use", "Patient.telecom[0].system"]
    assert "anonymous, maiden, nickname, official, old, temp, usual" in issue["diagnostics"]


def test_update_and_patch_results_are_checked(admin: httpx.Client) -> None:
    created = admin.post("/Observation", json=observation(marker="bindings-update")).json()
    url = f"/Observation/{created['id']}"
    put = admin.put(url, json={**created, "status": "done"})
    assert_refused(put, "Observation.status", "done", OBSERVATION_STATUS)
    patch = admin.patch(url, content=json.dumps([{"op": "replace", "path": "/status", "value": "done"}]),
                        headers={"Content-Type": "application/json-patch+json"})
    assert_refused(patch, "Observation.status", "done", OBSERVATION_STATUS)
    merge = admin.patch(url, json={"valueQuantity": {"value": 1, "comparator": "~"}})
    assert_refused(merge, "Observation.valueQuantity.comparator", "~", ["<", "<=", ">", ">="])
    current = admin.get(url).json()
    assert current["meta"]["versionId"] == "1" and current["status"] == "final"


def test_a_transaction_with_one_bad_entry_stores_nothing(admin: httpx.Client) -> None:
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": observation(marker="bindings-tx"), "request": {"method": "POST", "url": "Observation"}},
        {"resource": observation("not-a-status", "bindings-tx"), "request": {"method": "POST", "url": "Observation"}},
    ]}
    response = admin.post("", json=bundle)
    assert_refused(response, "Bundle.entry[1].resource.status", "not-a-status", OBSERVATION_STATUS)
    assert "Bundle.entry[1]" in response.json()["issue"][0]["expression"]
    assert count(admin, "bindings-tx") == 0


def test_validate_reports_the_same_and_stores_nothing(admin: httpx.Client) -> None:
    response = admin.post("/Observation/$validate", json=observation("not-a-status", "bindings-validate"))
    assert response.status_code == 200, response.text
    issue = response.json()["issue"][0]
    assert issue["severity"] == "error" and issue["code"] == "code-invalid"
    assert issue["expression"] == ["Observation.status"]
    assert ", ".join(OBSERVATION_STATUS) in issue["diagnostics"]
    assert count(admin, "bindings-validate") == 0


def test_codings_of_the_value_sets_system_are_checked_and_others_left_alone(admin: httpx.Client) -> None:
    # Composition.confidentiality is a code; AllergyIntolerance.clinicalStatus a required CodeableConcept.
    system = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
    allergy = {"resourceType": "AllergyIntolerance", "patient": {"reference": "Patient/x"},
               "clinicalStatus": {"coding": [{"system": "http://example.org/local", "code": "whatever"},
                                             {"system": system, "code": "gone"}]}}
    response = admin.post("/AllergyIntolerance", json=allergy)
    assert response.status_code == 422, response.text
    issue = response.json()["issue"][0]
    assert issue["expression"] == ["AllergyIntolerance.clinicalStatus.coding[1].code"]
    assert "active, inactive, resolved" in issue["diagnostics"]
    allergy["clinicalStatus"]["coding"][1]["code"] = "resolved"
    assert admin.post("/AllergyIntolerance", json=allergy).status_code == 201


def test_the_checked_in_table_is_what_the_r4_definitions_give() -> None:
    """required.json is generated from the pinned definitions package, never edited by hand."""
    if not DEFINITIONS.is_dir():
        raise AssertionError(f"{DEFINITIONS} is missing: run `make tests/js/node_modules/.installed`")
    expected = generate.render(generate.load(DEFINITIONS))
    assert generate.OUT.read_text() == expected, (
        f"regenerate: {sys.executable} -m fhir_server.resources.bindings.generate {DEFINITIONS}")


def test_generator_runs_as_documented() -> None:
    done = subprocess.run([sys.executable, "-m", "fhir_server.resources.bindings.generate"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "Regenerate" in done.stderr
