"""The record sections' readers without a server: statuses, doses, components, dates."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from fhir_server.portal.record import allergies, medications, problems, visits, vitals


def test_blood_pressure_becomes_one_result_per_component_with_the_parents_date() -> None:
    pressure = {"resourceType": "Observation", "id": "bp", "status": "final", "effectiveDateTime": "2026-01-01",
                "code": {"text": "Blood pressure"}, "component": [
                    {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}], "text": "Systolic"},
                     "valueQuantity": {"value": 150, "unit": "mmHg"}},
                    {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}], "text": "Diastolic"},
                     "valueQuantity": {"value": 95, "unit": "mmHg"}}]}
    panel = {"resourceType": "Observation", "id": "panel", "code": {"text": "Vital signs"},
             "hasMember": [{"reference": "Observation/bp"}]}
    tests = vitals.group([pressure, panel])
    assert [(t.code, t.latest.value, t.latest.date) for t in tests] == [
        ("8480-6", "150 mmHg", "2026-01-01"), ("8462-4", "95 mmHg", "2026-01-01")]


def test_doses_read_as_words() -> None:
    assert medications.dose_text({"text": "Two puffs as needed"}) == "Two puffs as needed"
    assert medications.dose_text({"doseAndRate": [{"doseQuantity": {"value": 2, "unit": "tablet"}}],
                                  "route": {"text": "Oral"},
                                  "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}}}) == \
        "2 tablet oral twice a day"
    assert medications.dose_text({"timing": {"repeat": {"frequency": 1, "period": 8, "periodUnit": "h"}},
                                  "asNeededBoolean": True}) == "once every 8 hours as needed"


def test_problems_split_by_clinical_status_and_hide_errors() -> None:
    def condition(status: str, verification: str = "confirmed") -> dict:
        return {"id": status, "code": {"text": status}, "clinicalStatus": {"coding": [{"code": status}]},
                "verificationStatus": {"coding": [{"code": verification}]}}

    assert problems.to_problem(condition("relapse")).current
    assert problems.to_problem(condition("relapse")).status == "Relapse"  # a bare code reads as a word
    assert not problems.to_problem(condition("remission")).current
    assert problems.to_problem({"id": "x", "code": {"text": "No status"}}).current
    assert not problems.visible(condition("active", "entered-in-error"))
    assert problems.to_problem({"id": "y", "onsetString": "In childhood"}).onset == "In childhood"


def test_allergy_reactions_and_risk() -> None:
    allergy = allergies.to_allergy({"id": "a", "code": {"text": "Peanut"}, "criticality": "high",
                                    "category": ["food"], "type": "allergy",
                                    "reaction": [{"manifestation": [{"text": "Swelling"}, {"text": "Wheezing"}],
                                                  "severity": "severe"}]})
    assert (allergy.substance, allergy.reactions, allergy.criticality, allergy.kind) == \
        ("Peanut", ["Swelling, Wheezing (severe)"], "High risk", "Food allergy")


def test_visit_times_use_the_one_date_style() -> None:
    assert visits.moment_text("2026-12-03T09:05:00-05:00") == "Dec 3, 2026, 2:05 PM"
    assert visits.moment_text("2026-12-03T09:05:00-05:00", ZoneInfo("America/New_York")) == "Dec 3, 2026, 9:05 AM"
    assert visits.moment_text("2026-12-03") == "Dec 3, 2026"
