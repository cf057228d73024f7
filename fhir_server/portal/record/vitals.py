"""Vitals: vital-sign Observations as the lab view shows tests, latest value first and the
history with the same trend chart (``health/trend.py``).

An Observation made of components (blood pressure) becomes one result per component, so
systolic and diastolic pressure each get their own row and their own trend. A panel that
only points at its members (``hasMember``, no value) adds nothing of its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fhir_server.portal.health import labs
from fhir_server.portal.health.records import search_all
from fhir_server.portal.health.trend import Chart, trend
from fhir_server.portal.viewing import Viewing
from fhir_server.services import Services

# The order a clinician reads vitals in (LOINC); anything else follows by name.
ORDER = ("8480-6", "8462-4", "8867-4", "9279-1", "8310-5", "59408-5", "2708-6", "29463-7", "8302-2", "39156-5",
         "8287-5", "9843-4")
VALUE_KEYS = ("valueQuantity", "valueCodeableConcept", "valueString", "valueInteger", "valueBoolean")


def split_components(observation: dict[str, Any]) -> list[dict[str, Any]]:
    """One observation per component that carries a value (the parent's date, status and id)."""
    if any(k in observation for k in VALUE_KEYS) or not observation.get("component"):
        return [observation] if any(k in observation for k in VALUE_KEYS) or observation.get("dataAbsentReason") \
            else []
    keep = {k: v for k, v in observation.items() if k not in ("component", "code", "referenceRange",
                                                                "interpretation")}
    return [{**keep, **{k: c[k] for k in c if k != "extension"}} for c in observation["component"]
            if any(k in c for k in VALUE_KEYS)]


def position(test: labs.Test) -> tuple[int, str]:
    return (ORDER.index(test.code) if test.code in ORDER else len(ORDER), test.name.lower())


def group(observations: Iterable[dict[str, Any]]) -> list[labs.Test]:
    parts = [p for o in observations for p in split_components(o)]
    return sorted(labs.group_tests(parts), key=position)


async def load(services: Services, view: Viewing) -> dict[str, Any]:
    observations = [o async for o in search_all(services, view, "Observation",
                                                [("category", "vital-signs"), ("_sort", "-date")])]
    tests = group(observations)
    charts: dict[str, Chart | None] = {t.key: trend(t) for t in tests}
    return {"tests": tests, "charts": charts, "count": len(observations),
            "entities": sorted({f"Observation/{o.get('id')}" for o in observations})}
