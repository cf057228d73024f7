"""Lab results for people, not machines: one row per test, the latest value, a flag in words.

Pure functions over Observation and DiagnosticReport dicts (already read through the one
door): grouping by LOINC code, the flag from ``interpretation`` (or computed from the
``referenceRange`` when the lab sent none), and values as text for every value[x] and for
components. The search returns results newest first, and grouping keeps that order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from fhir_server.portal.health.dates import clinical_date, short_date
from fhir_server.portal.units import display_unit

LOINC = "http://loinc.org"

# v3 ObservationInterpretation codes that mean "out of range", and how to say them.
HIGH = {"H": "High", "HH": "Critically high", "HU": "Very high", ">": "Above range"}
LOW = {"L": "Low", "LL": "Critically low", "LU": "Very low", "<": "Below range"}
ABNORMAL = {"A": "Abnormal", "AA": "Critically abnormal", "POS": "Positive", "DET": "Detected", "R": "Resistant",
            "IE": "Insufficient evidence", "W": "Worse"}
NORMAL = {"N", "NEG", "ND", "NR", "S", "B", "U", "I", "IND", "E", "EXP", "EX"}


@dataclass(frozen=True)
class Flag:
    kind: str  # "high" | "low" | "abnormal"
    label: str  # the words on the page ("High", "Critically low"…): never colour alone


@dataclass
class Result:
    """One Observation as the page shows it."""

    id: str
    date: str  # ISO date-time (for sorting, the chart and <time datetime>)
    when: str  # "Jun 16, 2026"
    value: str  # "13.8 g/dL", "Negative (IHC 1+)", "Systolic 118 mmHg · Diastolic 76 mmHg"
    number: float | None  # the numeric value, for the trend chart
    unit: str
    range: str
    flag: Flag | None
    panel: str | None  # the DiagnosticReport that groups it, by name
    status: str
    low: float | None = None  # the reference range as numbers, for the chart's band
    high: float | None = None


@dataclass
class Test:
    """All results of one test (one LOINC code), newest first."""

    key: str
    name: str
    code: str
    results: list[Result] = field(default_factory=list)

    @property
    def latest(self) -> Result:
        return self.results[0]

    @property
    def earlier(self) -> list[Result]:
        return self.results[1:]


@dataclass
class Panel:
    """The tests whose latest result a DiagnosticReport of this name grouped (or "Other tests")."""

    name: str
    tests: list[Test] = field(default_factory=list)


def concept_text(concept: dict[str, Any] | None) -> str:
    if not concept:
        return ""
    return str(concept.get("text") or next((c.get("display") or c.get("code") for c in concept.get("coding", [])
                                            if c.get("display") or c.get("code")), ""))


def test_key(observation: dict[str, Any]) -> tuple[str, str]:
    """(group key, LOINC code): by LOINC code when there is one, else the first coding, else the text."""
    codings = observation.get("code", {}).get("coding", [])
    loinc = next((c["code"] for c in codings if c.get("system") == LOINC and c.get("code")), None)
    if loinc:
        return f"{LOINC}|{loinc}", loinc
    first = next((c for c in codings if c.get("code")), None)
    if first:
        return f"{first.get('system', '')}|{first['code']}", first["code"]
    return f"text|{concept_text(observation.get('code')).lower()}", ""


def number(value: Any) -> str:
    """A number as the lab wrote it (13.0 stays 13.0; 118 stays 118)."""
    if isinstance(value, float) and abs(value) >= 1e15:
        return f"{value:g}"
    return str(value)


def quantity_text(quantity: dict[str, Any]) -> str:
    if "value" not in quantity:
        return ""
    unit = display_unit(quantity.get("unit") or quantity.get("code") or "")
    text = f"{quantity.get('comparator', '')}{number(quantity['value'])}"
    return f"{text} {unit}".strip()


def value_text(element: dict[str, Any]) -> str:
    """The value[x] of an Observation or one of its components, as text."""
    if "valueQuantity" in element:
        return quantity_text(element["valueQuantity"])
    if "valueCodeableConcept" in element:
        return concept_text(element["valueCodeableConcept"])
    if "valueString" in element:
        return str(element["valueString"])
    if "valueBoolean" in element:
        return "Yes" if element["valueBoolean"] else "No"
    if "valueInteger" in element:
        return str(element["valueInteger"])
    if "valueRange" in element:
        low, high = element["valueRange"].get("low", {}), element["valueRange"].get("high", {})
        return f"{quantity_text(low)} – {quantity_text(high)}".strip(" –")
    if "valueRatio" in element:
        ratio = element["valueRatio"]
        return f"{quantity_text(ratio.get('numerator', {}))} / {quantity_text(ratio.get('denominator', {}))}"
    for key in ("valueDateTime", "valueTime", "valuePeriod"):
        if key in element:
            return str(element[key]) if key != "valuePeriod" else \
                f"{element[key].get('start', '')} – {element[key].get('end', '')}"
    if "dataAbsentReason" in element:
        return f"No result ({concept_text(element['dataAbsentReason']).lower() or 'not available'})"
    return ""


def observation_value(observation: dict[str, Any]) -> str:
    own = value_text(observation)
    parts = [f"{concept_text(c.get('code'))} {value_text(c)}".strip() for c in observation.get("component", [])]
    shown = [p for p in parts if p]
    if own and shown:
        return f"{own} ({' · '.join(shown)})"
    return own or " · ".join(shown) or "No value recorded"


def range_text(element: dict[str, Any]) -> str:
    ranges = element.get("referenceRange") or []
    if not ranges:
        return ""
    first = ranges[0]
    if first.get("text"):
        return display_unit(str(first["text"]))  # the lab's own text: "1.8-7.7 10^3/uL" reads "×10³/µL" too
    low, high = first.get("low"), first.get("high")
    if low and high:
        unit = display_unit(high.get("unit") or high.get("code") or "")
        return f"{number(low.get('value'))}–{number(high.get('value'))} {unit}".strip()
    if low:
        return f"≥ {quantity_text(low)}"
    if high:
        return f"≤ {quantity_text(high)}"
    return ""


def range_bounds(element: dict[str, Any]) -> tuple[float | None, float | None]:
    first = (element.get("referenceRange") or [{}])[0]
    low, high = (first.get("low") or {}).get("value"), (first.get("high") or {}).get("value")
    return (float(low) if isinstance(low, int | float) else None,
            float(high) if isinstance(high, int | float) else None)


def interpreted(element: dict[str, Any]) -> Flag | bool | None:
    """The flag the lab sent: a Flag, None when it said normal, False when it said nothing."""
    said = False
    for concept in element.get("interpretation") or []:
        for coding in concept.get("coding", []):
            code = str(coding.get("code", "")).upper()
            for kind, names in (("high", HIGH), ("low", LOW), ("abnormal", ABNORMAL)):
                if code in names:
                    return Flag(kind, names[code])
            said = said or code in NORMAL
        if not concept.get("coding") and concept.get("text"):
            text = str(concept["text"])
            if text.lower() not in ("normal", "negative", "within range"):
                return Flag("abnormal", text)
            said = True
    return None if said else False


def computed(element: dict[str, Any]) -> Flag | None:
    """High or Low from the reference range, when the value is a number in the range's unit."""
    quantity = element.get("valueQuantity") or {}
    value = quantity.get("value")
    ranges = element.get("referenceRange") or []
    if not isinstance(value, int | float) or not ranges:
        return None
    low, high = ranges[0].get("low") or {}, ranges[0].get("high") or {}
    unit = quantity.get("code") or quantity.get("unit")
    for bound in (low, high):
        bound_unit = bound.get("code") or bound.get("unit")
        if bound and unit and bound_unit and bound_unit != unit:
            return None  # different units: do not guess
    if isinstance(high.get("value"), int | float) and value > high["value"]:
        return Flag("high", "High")
    if isinstance(low.get("value"), int | float) and value < low["value"]:
        return Flag("low", "Low")
    return None


def flag_of(element: dict[str, Any]) -> Flag | None:
    """The flag of an Observation: its interpretation, else computed from its range, else its components'."""
    said = interpreted(element)
    if said is not False:
        return said if isinstance(said, Flag) else None
    own = computed(element)
    if own or "component" not in element:
        return own
    flags = [flag_of(c) for c in element["component"]]
    found = [f for f in flags if f]
    if not found:
        return None
    return found[0] if len({f.kind for f in found}) == 1 else Flag("abnormal", "Abnormal")


def to_result(observation: dict[str, Any], panels: dict[str, str]) -> Result:
    quantity = observation.get("valueQuantity") or {}
    raw = quantity.get("value")
    numeric = float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) and \
        not quantity.get("comparator") else None
    date = clinical_date(observation) or ""
    low, high = range_bounds(observation)
    obs_id = str(observation.get("id"))
    return Result(id=obs_id, date=date, when=short_date(date), value=observation_value(observation), number=numeric,
                  unit=display_unit(str(quantity.get("unit") or quantity.get("code") or "")),
                  range=range_text(observation),
                  flag=flag_of(observation), panel=panels.get(obs_id), status=str(observation.get("status", "")),
                  low=low, high=high)


def report_names(reports: list[dict[str, Any]]) -> dict[str, str]:
    """Observation id → the name of the (newest) DiagnosticReport that lists it as a result."""
    names: dict[str, str] = {}
    for report in reports:
        name = concept_text(report.get("code")) or "Report"
        for ref in report.get("result", []):
            target = str(ref.get("reference", ""))
            if target.startswith("Observation/") or "/Observation/" in target:
                names.setdefault(target.rsplit("/", 1)[-1], name)
    return names


def group_tests(observations: Iterable[dict[str, Any]], reports: Iterable[dict[str, Any]] = ()) -> list[Test]:
    """One Test per code; results newest first whatever order they came in; tests by name."""
    panels = report_names(list(reports))
    tests: dict[str, Test] = {}
    for observation in observations:
        if observation.get("status") in ("entered-in-error", "cancelled"):
            continue
        key, code = test_key(observation)
        test = tests.get(key)
        if test is None:
            test = tests[key] = Test(key=key, name=concept_text(observation.get("code")) or "Unnamed test", code=code)
        test.results.append(to_result(observation, panels))
    for test in tests.values():
        test.results.sort(key=lambda r: r.date, reverse=True)
    return sorted(tests.values(), key=lambda t: t.name.lower())


def by_panel(tests: list[Test]) -> list[Panel]:
    """Tests under the report that grouped their latest result; the rest under "Other tests", last."""
    panels: dict[str, Panel] = {}
    for test in tests:
        name = test.latest.panel or ""
        panels.setdefault(name, Panel(name or "Other tests")).tests.append(test)
    named = sorted((p for k, p in panels.items() if k), key=lambda p: p.name.lower())
    return named + ([panels[""]] if "" in panels else [])
