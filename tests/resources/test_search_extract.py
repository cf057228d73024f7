"""Write-time index and patient compartments on real sample resources (no database)."""

from __future__ import annotations

from fhir_server.resources.search import index_models, index_resource, patient_compartments
from fhir_server.resources.search.encoding import date_range, norm
from tests.resources.search_fixtures import BASE, load_json, synthea_resources


def test_observation_index_entries() -> None:
    obs = load_json("us-core-examples/observation-cbc-hemoglobin.json")
    idx = index_resource(obs)
    assert "code\x1fs:http://loinc.org|718-7" in idx["tok"]
    assert "code\x1fc:718-7" in idx["tok"] and "code\x1fS:http://loinc.org" in idx["tok"]
    assert "category\x1fc:laboratory" in idx["tok"]
    assert "patient\x1fPatient/example" in idx["ref"] and "subject\x1f=example" in idx["ref"]
    assert len(idx["dlo"]) == len(idx["dhi"]) and any(d.startswith("date\x1f") for d in idx["dlo"])
    assert "value-quantity" in idx["has"] and idx["srt"]["code"] == "718-7"
    assert patient_compartments(obs) == ["example"]


def test_patient_strings_and_compartment() -> None:
    pat = load_json("us-core-examples/patient-example.json")
    idx = index_resource(pat)
    assert "family\x1fshaw" in idx["str"] and "family\x1fShaw" in idx["sx"]
    assert any(t.startswith("identifier\x1fo:http://terminology.hl7.org/CodeSystem/v2-0203|MR|") for t in idx["tok"])
    assert idx["dlo"] == ["birthdate\x1f1987-02-20T00:00:00.000Z"]
    assert patient_compartments(pat) == [pat["id"]]


def test_compartments_of_spec_examples() -> None:
    assert patient_compartments(load_json("hl7-spec-examples/consent-example-smartonfhir.json"))
    rp = load_json("us-core-examples/relatedperson-shaw-niece.json")
    assert patient_compartments(rp) == [rp["patient"]["reference"].split("/")[1]]
    absolute = {"resourceType": "Observation", "subject": {"reference": f"{BASE}/Patient/p1"},
                "performer": [{"reference": "http://elsewhere/fhir/Patient/p2"}, {"reference": "Patient/p3"}]}
    assert patient_compartments(absolute, BASE) == ["p1", "p3"]
    assert patient_compartments({"resourceType": "Practitioner", "id": "x"}) == []
    comm = {"resourceType": "Communication", "subject": {"reference": "Patient/a"},
            "recipient": [{"reference": "Patient/b"}], "sender": {"reference": "Practitioner/c"}}
    assert patient_compartments(comm) == ["a", "b"]
    assert "in-response-to" not in index_resource(comm)["has"]


def test_dates_and_strings() -> None:
    assert date_range("2020-03") == ("2020-03-01T00:00:00.000Z", "2020-03-31T23:59:59.999Z")
    assert date_range("2012-03-22T03:48:46-04:00") == ("2012-03-22T07:48:46.000Z", "2012-03-22T07:48:46.999Z")
    assert date_range("2020-13") is None
    assert norm("Ádán  PORTILLO") == "adan portillo"
    per = index_resource({"resourceType": "Encounter", "period": {"start": "2020-01-01"}})
    assert per["dhi"] == ["date\x1f9999-12-31T23:59:59.999Z"]


def test_index_models_cover_portal_sorts() -> None:
    names = {m.document["name"] for m in index_models("Observation")}
    assert {"comp_id", "lu_id", "idx_tok", "comp_srt_date_id"} <= names
    assert "comp_srt_sent_id" in {m.document["name"] for m in index_models("Communication")}


def test_every_synthea_observation_is_indexed_under_its_patient() -> None:
    # (Its speed is measured by bench/, never asserted here.)
    obs = [r for r in synthea_resources(2) if r["resourceType"] == "Observation"]
    assert len(obs) > 50
    for o in obs:
        idx = index_resource(o)
        code = o["code"]["coding"][0]
        assert f"code\x1fs:{code['system']}|{code['code']}" in idx["tok"], o["id"]
        assert patient_compartments(o) == [o["subject"]["reference"].split("/")[1]], o["id"]
