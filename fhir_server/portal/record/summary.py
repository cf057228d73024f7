"""The record sections in the readable summary: problems, medications and allergies as they
stand (a state, not an event, so whatever the period), and immunizations, vitals and visits
inside the period. The same loaders as the section pages, so the two never disagree."""

from __future__ import annotations

from typing import Any

from fhir_server.portal.health.dates import Period
from fhir_server.portal.record import allergies, care_team, immunizations, medications, problems, visits, vitals
from fhir_server.portal.viewing import Viewing
from fhir_server.services import Services


def _in(period: Period, iso: str) -> bool:
    return period.holds({"date": iso}) if iso else not period.any


async def gather(services: Services, view: Viewing, period: Period) -> dict[str, Any]:
    loaded = {name: await module.load(services, view) for name, module in (
        ("problems", problems), ("medications", medications), ("allergies", allergies),
        ("immunizations", immunizations), ("vitals", vitals), ("visits", visits), ("care_team", care_team))}
    shots = [i for i in loaded["immunizations"]["immunizations"] if _in(period, i.date)]
    past = [v for v in loaded["visits"]["past"] if _in(period, v.start)]
    tests = []
    for test in loaded["vitals"]["tests"]:
        kept = [r for r in test.results if _in(period, r.date)]
        if kept:
            test.results = kept
            tests.append(test)
    entities = [e for section in loaded.values() for e in section["entities"]]
    record = {"problems": loaded["problems"], "medications": loaded["medications"],
              "allergies": loaded["allergies"]["allergies"], "immunizations": shots, "vitals": tests,
              "visits": past, "teams": loaded["care_team"]["teams"]}
    return {"record": record, "record_entities": entities}
