"""FHIRPath Patch (fhirpatch.html): a Parameters body on PATCH and in Bundle PATCH entries."""

from __future__ import annotations

from typing import Any

import httpx

FHIR_JSON = {"Content-Type": "application/fhir+json"}


def op(kind: str, path: str, **parts: dict[str, Any]) -> dict:
    return {"name": "operation", "part": [{"name": "type", "valueCode": kind}, {"name": "path", "valueString": path},
                                          *({"name": name, **value} for name, value in parts.items())]}


def patch_body(*operations: dict) -> dict:
    return {"resourceType": "Parameters", "parameter": list(operations)}


def new_patient(admin: httpx.Client) -> dict:
    return admin.post("/Patient", json={
        "resourceType": "Patient", "birthDate": "1970-02-03", "gender": "female",
        "name": [{"use": "official", "family": "Pathson", "given": ["Ada", "Lovelace"]},
                 {"use": "old", "family": "Maiden"}]}).json()


def test_every_operation_type_on_patch(admin: httpx.Client) -> None:
    patient = new_patient(admin)
    body = patch_body(
        op("replace", "Patient.birthDate", value={"valueDate": "1971-04-05"}),
        op("add", "Patient", name={"valueString": "telecom"},
           value={"valueContactPoint": {"system": "email", "value": "ada@example.org"}}),
        op("delete", "Patient.name.where(use = 'old')"),
        op("insert", "Patient.name[0].given", index={"valueInteger": 0}, value={"valueString": "Countess"}),
        op("move", "Patient.name[0].given", source={"valueInteger": 2}, destination={"valueInteger": 1}),
        op("delete", "Patient.deceased"),  # nothing there: no change, no error
    )
    response = admin.patch(f"/Patient/{patient['id']}", json=body, headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    patched = admin.get(f"/Patient/{patient['id']}").json()
    assert patched["meta"]["versionId"] == "2"
    assert patched["birthDate"] == "1971-04-05"
    assert patched["telecom"] == [{"system": "email", "value": "ada@example.org"}]
    assert patched["name"] == [{"use": "official", "family": "Pathson", "given": ["Countess", "Lovelace", "Ada"]}]


def test_choice_elements_are_found_through_the_r4_model(admin: httpx.Client) -> None:
    observation = admin.post("/Observation", json={
        "resourceType": "Observation", "status": "preliminary", "code": {"text": "Hb"},
        "valueQuantity": {"value": 11, "unit": "g/dL"}}).json()
    body = patch_body(op("replace", "Observation.value", value={"valueQuantity": {"value": 12, "unit": "g/dL"}}),
                      op("replace", "Observation.status", value={"valueCode": "final"}))
    response = admin.patch(f"/Observation/{observation['id']}", json=body, headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    assert response.json()["valueQuantity"]["value"] == 12 and response.json()["status"] == "final"


def test_a_patch_that_cannot_apply_changes_nothing(admin: httpx.Client) -> None:
    patient = new_patient(admin)
    url = f"/Patient/{patient['id']}"
    cases = [
        (patch_body(op("replace", "Patient.name.family", value={"valueString": "X"})), 422, "selects 2"),
        (patch_body(op("replace", "Patient.name.where(use=)", value={"valueString": "X"})), 400, "FHIRPath"),
        (patch_body(op("replace", "Patient.gender", value={"valueCode": "f"})), 422, "administrative-gender"),
        (patch_body(op("shuffle", "Patient.name")), 400, "type"),
        (patch_body(op("insert", "Patient.name", index={"valueInteger": 9}, value={"valueHumanName": {}})), 422,
         "index"),
        ({"resourceType": "Parameters", "parameter": [{"name": "nonsense"}]}, 400, "operation"),
    ]
    for body, status, words in cases:
        response = admin.patch(url, json=body, headers=FHIR_JSON)
        assert response.status_code == status, (body, response.text)
        assert response.json()["resourceType"] == "OperationOutcome"
        assert words in response.json()["issue"][0]["diagnostics"], response.text
    assert admin.get(url).json() == patient


def test_fhirpath_patch_entries_in_a_transaction_roll_back_together(admin: httpx.Client) -> None:
    patient = new_patient(admin)
    url = f"Patient/{patient['id']}"
    good = {"resource": patch_body(op("replace", "Patient.birthDate", value={"valueDate": "1980-01-01"})),
            "request": {"method": "PATCH", "url": url}}
    # Another Patient's: a transaction writes each resource once.
    bad = {"resource": patch_body(op("replace", "Patient.name.given", value={"valueString": "x"})),
           "request": {"method": "PATCH", "url": f"Patient/{new_patient(admin)['id']}"}}
    failed = admin.post("", json={"resourceType": "Bundle", "type": "transaction", "entry": [good, bad]})
    assert failed.status_code == 422, failed.text
    assert "Bundle.entry[1]" in failed.json()["issue"][0]["diagnostics"]
    assert admin.get(f"/{url}").json()["meta"]["versionId"] == "1"
    done = admin.post("", json={"resourceType": "Bundle", "type": "transaction", "entry": [good]})
    assert done.status_code == 200, done.text
    assert admin.get(f"/{url}").json()["birthDate"] == "1980-01-01"
