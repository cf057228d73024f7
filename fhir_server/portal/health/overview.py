"""The lab overview: what needs attention first, what is new since the person last looked,
tumor markers in their own group, and results older than a year kept apart.

Pure functions over the grouped tests (``labs.group_tests``) and the Observations they came
from; the Health route adds the time the account last looked (``seen``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from fhir_server import timefmt
from fhir_server.portal.health.labs import LOINC, Panel, Test, by_panel

TUMOR_MARKERS = "Tumor markers"
RECENT = timedelta(days=365)
# Tumor markers and other oncology tests, by LOINC code (serum/plasma unless said).
ONCOLOGY_LOINC = {
    "2039-6": "CEA", "24108-3": "CA 19-9", "10334-1": "CA-125", "2857-1": "PSA", "10886-0": "PSA, free",
    "12841-3": "PSA free/total", "35741-8": "PSA (ultrasensitive)", "1834-1": "AFP", "6875-9": "CA 15-3",
    "17842-6": "CA 27.29", "21198-7": "beta-hCG", "1952-1": "beta-2 microglobulin", "55180-3": "HE4",
    "9811-1": "Chromogranin A", "3013-0": "Thyroglobulin", "1992-7": "Calcitonin",
}


@dataclass
class Overview:
    attention: list[Test]  # the latest result is out of range (and less than a year old)
    panels: list[Panel]  # tests with a result in the last year: tumor markers first
    older: list[Panel]  # tests whose latest result is more than a year old
    new_ids: frozenset[str]  # Observations that arrived since the person last looked
    last_looked: datetime | None
    anchors: dict[str, str] = field(default_factory=dict)  # test key → id of its row

    @property
    def new_tests(self) -> int:
        return sum(1 for panel in self.panels + self.older for t in panel.tests if self.is_new(t))

    def is_new(self, test: Test) -> bool:
        return any(r.id in self.new_ids for r in test.results)


def is_oncology(test: Test) -> bool:
    return test.key == f"{LOINC}|{test.code}" and test.code in ONCOLOGY_LOINC


def _day(value: str) -> date | None:
    parsed = timefmt.parse(value)
    if isinstance(parsed, datetime):
        return parsed.date()
    if isinstance(parsed, date):
        return parsed
    if isinstance(parsed, str) and parsed[:4].isdigit():
        return date(int(parsed[:4]), int(parsed[5:7]) if len(parsed) == 7 and parsed[5:].isdigit() else 1, 1)
    return None


def _arrived(observation: dict[str, Any]) -> datetime | None:
    parsed = timefmt.parse(str((observation.get("meta") or {}).get("lastUpdated") or ""))
    return parsed if isinstance(parsed, datetime) else None


def _grouped(tests: list[Test]) -> list[Panel]:
    """Tumor markers first, then the report panels; within each, out-of-range tests first."""
    markers = [t for t in tests if is_oncology(t)]
    panels = ([Panel(TUMOR_MARKERS, markers)] if markers else []) + by_panel([t for t in tests if not is_oncology(t)])
    for panel in panels:
        panel.tests.sort(key=lambda t: t.latest.flag is None)  # stable: by name within each kind
    return panels


def _anchor(test: Test) -> str:
    return "lab-" + (re.sub(r"[^A-Za-z0-9-]+", "-", test.code or test.name).strip("-").lower() or "test")


def build(tests: list[Test], observations: list[dict[str, Any]], *, now: datetime,
          last_looked: datetime | None) -> Overview:
    cutoff = (now - RECENT).date()
    current = [t for t in tests if (_day(t.latest.date) or date.min) >= cutoff]
    older = [t for t in tests if t not in current]
    new_ids: frozenset[str] = frozenset()
    if last_looked is not None:
        new_ids = frozenset(str(o.get("id")) for o in observations
                            if (arrived := _arrived(o)) is not None and arrived > last_looked)
    anchors: dict[str, str] = {}
    for test in tests:
        anchor = _anchor(test)
        anchors[test.key] = anchor if anchor not in anchors.values() else f"{anchor}-{len(anchors)}"
    return Overview(attention=[t for t in current if t.latest.flag], panels=_grouped(current), older=_grouped(older),
                    new_ids=new_ids, last_looked=last_looked, anchors=anchors)
