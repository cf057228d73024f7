"""The lab logic without a server: flags, values, grouping, panels, trend and date ranges."""

from __future__ import annotations

from typing import Any

from fhir_server.portal.health.dates import period_from
from fhir_server.portal.health.labs import by_panel, flag_of, group_tests, observation_value, range_text
from fhir_server.portal.health.trend import trend

LOINC = "http://loinc.org"
V3 = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"


def obs(obs_id: str, code: str, date: str, value: float | None = None, *, unit: str = "g/dL",
        low: float | None = 12.0, high: float | None = 15.5, interpretation: str | None = None,
        **extra: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Observation", "id": obs_id, "status": "final",
                                "code": {"coding": [{"system": LOINC, "code": code, "display": f"Test {code}"}],
                                         "text": f"Test {code}"},
                                "effectiveDateTime": date, **extra}
    if value is not None:
        resource["valueQuantity"] = {"value": value, "unit": unit, "code": unit}
    if low is not None or high is not None:
        bounds: dict[str, Any] = {}
        if low is not None:
            bounds["low"] = {"value": low, "unit": unit, "code": unit}
        if high is not None:
            bounds["high"] = {"value": high, "unit": unit, "code": unit}
        resource["referenceRange"] = [bounds]
    if interpretation:
        resource["interpretation"] = [{"coding": [{"system": V3, "code": interpretation}]}]
    return resource


def test_the_interpretation_wins_over_the_range() -> None:
    assert flag_of(obs("a", "718-7", "2024-01-01", 20.0, interpretation="N")) is None
    flag = flag_of(obs("a", "718-7", "2024-01-01", 13.0, interpretation="LL"))
    assert flag is not None and (flag.kind, flag.label) == ("low", "Critically low")
    flag = flag_of(obs("a", "2335-8", "2024-01-01", low=None, high=None, interpretation="A",
                       valueCodeableConcept={"text": "Positive"}))
    assert flag is not None and (flag.kind, flag.label) == ("abnormal", "Abnormal")


def test_without_an_interpretation_the_flag_is_computed_from_the_range() -> None:
    high = flag_of(obs("a", "718-7", "2024-01-01", 16.1))
    low = flag_of(obs("b", "718-7", "2024-01-01", 11.9))
    assert high is not None and (high.kind, high.label) == ("high", "High")
    assert low is not None and (low.kind, low.label) == ("low", "Low")
    assert flag_of(obs("c", "718-7", "2024-01-01", 15.5)) is None  # the bounds are inside the range
    assert flag_of(obs("d", "718-7", "2024-01-01", 30.0, high=None)) is None
    assert flag_of(obs("e", "6875-9", "2024-01-01", 31.0, low=None, high=30.0, unit="U/mL")).label == "High"  # type: ignore[union-attr]


def test_a_range_in_another_unit_is_not_compared() -> None:
    resource = obs("a", "718-7", "2024-01-01", 130.0, unit="g/L")
    resource["referenceRange"] = [{"low": {"value": 12.0, "code": "g/dL"}, "high": {"value": 15.5, "code": "g/dL"}}]
    assert flag_of(resource) is None


def test_components_and_non_numeric_values_read_as_text() -> None:
    pressure = {"resourceType": "Observation", "id": "bp", "code": {"text": "Blood pressure"}, "component": [
        {"code": {"text": "Systolic"}, "valueQuantity": {"value": 150, "unit": "mmHg"},
         "referenceRange": [{"high": {"value": 130, "unit": "mmHg"}}]},
        {"code": {"text": "Diastolic"}, "valueQuantity": {"value": 76, "unit": "mmHg"}}]}
    assert observation_value(pressure) == "Systolic 150 mmHg · Diastolic 76 mmHg"
    assert flag_of(pressure).label == "High"  # type: ignore[union-attr]
    assert observation_value({"valueString": "Negative (IHC 1+)"}) == "Negative (IHC 1+)"
    assert observation_value({"valueCodeableConcept": {"coding": [{"display": "Positive"}]}}) == "Positive"
    assert observation_value({"valueQuantity": {"value": 5, "comparator": "<", "unit": "ng/mL"}}) == "<5 ng/mL"
    assert observation_value({}) == "No value recorded"
    assert range_text(obs("a", "718-7", "x", 1.0)) == "12.0–15.5 g/dL"
    assert range_text(obs("a", "718-7", "x", 1.0, low=None)) == "≤ 15.5 g/dL"


def test_grouping_keeps_one_test_per_code_with_the_history_newest_first() -> None:
    results = [obs("h1", "718-7", "2019-01-01", 13.0), obs("w1", "6690-2", "2024-05-01", 6.0, unit="10*3/uL"),
               obs("h3", "718-7", "2024-05-01", 12.1), obs("h2", "718-7", "2021-01-01", 11.0),
               obs("x", "718-7", "2025-01-01", 1.0, status="entered-in-error")]
    tests = group_tests(results)
    assert [t.code for t in tests] == ["6690-2", "718-7"]  # tests by name
    hgb = next(t for t in tests if t.code == "718-7")
    assert [r.id for r in hgb.results] == ["h3", "h2", "h1"]
    assert hgb.latest.value == "12.1 g/dL" and hgb.earlier[0].flag.label == "Low"  # type: ignore[union-attr]


def test_tests_sit_under_the_report_of_their_latest_result() -> None:
    results = [obs("h1", "718-7", "2024-05-01", 13.0), obs("g1", "2345-7", "2024-05-01", 90.0, unit="mg/dL")]
    report = {"resourceType": "DiagnosticReport", "code": {"text": "Complete blood count (CBC)"},
              "result": [{"reference": "Observation/h1"}]}
    panels = by_panel(group_tests(results, [report]))
    assert [(p.name, [t.code for t in p.tests]) for p in panels] == [
        ("Complete blood count (CBC)", ["718-7"]), ("Other tests", ["2345-7"])]
    assert panels[0].tests[0].latest.panel == "Complete blood count (CBC)"


def test_a_trend_needs_three_numeric_results() -> None:
    two = group_tests([obs("a", "718-7", "2020-01-01", 13.0), obs("b", "718-7", "2021-01-01", 16.0)])[0]
    assert trend(two) is None
    three = group_tests([obs("a", "718-7", "2020-01-01", 13.0), obs("b", "718-7", "2021-01-01", 16.0),
                         obs("c", "718-7", "2022-01-01", 14.0, valueString="ignored")])[0]
    chart = trend(three)
    assert chart is not None and len(chart.points) == 3
    assert chart.points[0].x < chart.points[1].x < chart.points[2].x  # oldest on the left
    assert chart.points[1].flagged and chart.band is not None
    assert "3 results" in chart.summary and "highest 16 g/dL" in chart.summary


def test_a_date_range_is_read_with_a_message_for_bad_input() -> None:
    assert period_from("", "").any is False
    good = period_from("2024-01-01", "2024-12-31")
    assert good.error is None and good.search_params("date") == [("date", "ge2024-01-01"), ("date", "le2024-12-31")]
    assert good.holds({"effectiveDateTime": "2024-06-01T10:00:00Z"})
    assert not good.holds({"effectiveDateTime": "2023-12-31T23:00:00Z"})
    assert good.holds({"resourceType": "Patient", "meta": {"lastUpdated": "2020-01-01T00:00:00Z"}})
    assert (period_from("2024-13-01", "").error or "").startswith("The start date is not a date.")
    assert period_from("2024-02-01", "2024-01-01").error == "The start date is after the end date."
