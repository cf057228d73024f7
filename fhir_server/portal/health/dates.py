"""Dates on health pages: the clinical date of a resource, short human dates, and the
optional ``from``/``to`` period of lists and downloads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from fhir_server.portal.forms import Problem

# Where each resource keeps the date it happened (first present wins).
DATE_FIELDS = ("effectiveDateTime", "effectivePeriod.start", "effectiveInstant", "issued", "date", "sent",
               "received", "authoredOn", "recordedDate", "onsetDateTime", "performedDateTime",
               "performedPeriod.start", "occurrenceDateTime", "period.start", "created", "recorded", "dateTime",
               "start", "dateAsserted", "whenHandedOver", "collection.collectedDateTime", "meta.lastUpdated")
UNDATED_KEEP = ("meta.lastUpdated",)  # a last-updated stamp is not when care happened


def _get(resource: dict[str, Any], path: str) -> Any:
    value: Any = resource
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def clinical_date(resource: dict[str, Any], *, fields: tuple[str, ...] = DATE_FIELDS) -> str | None:
    for path in fields:
        value = _get(resource, path)
        if isinstance(value, str) and value:
            return value
    return None


def parse_day(value: str) -> date | None:
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def short_date(value: str | None) -> str:
    """"Jun 16, 2026" (or the text as given when it is not a date)."""
    if not value:
        return ""
    day = parse_day(value)
    if day is None:
        return value
    if len(value) == 4:
        return value
    if len(value) == 7:
        return day.strftime("%b %Y")
    return f"{day.strftime('%b')} {day.day}, {day.year}"


@dataclass(frozen=True)
class Period:
    """An optional, inclusive date range; ``error`` says in words what was wrong with the input."""

    start: date | None = None
    end: date | None = None
    error: str | None = None
    raw_from: str = ""
    raw_to: str = ""

    @property
    def any(self) -> bool:
        return bool(self.start or self.end)

    def search_params(self, param: str) -> list[tuple[str, str]]:
        out = []
        if self.start:
            out.append((param, f"ge{self.start.isoformat()}"))
        if self.end:
            out.append((param, f"le{self.end.isoformat()}"))
        return out

    def holds(self, resource: dict[str, Any]) -> bool:
        """Inside the period by its clinical date; resources without one (Patient, CareTeam…) always are."""
        if not self.any:
            return True
        when = clinical_date(resource, fields=tuple(f for f in DATE_FIELDS if f not in UNDATED_KEEP))
        day = parse_day(when) if when else None
        if day is None:
            return True
        return (self.start is None or day >= self.start) and (self.end is None or day <= self.end)

    def describe(self) -> str:
        if self.start and self.end:
            return f"{short_date(self.start.isoformat())} to {short_date(self.end.isoformat())}"
        if self.start:
            return f"from {short_date(self.start.isoformat())}"
        if self.end:
            return f"up to {short_date(self.end.isoformat())}"
        return "all dates"


def period_from(raw_from: str | None, raw_to: str | None) -> Period:
    """Read ``from``/``to`` (YYYY-MM-DD, either may be empty); never raises."""
    raw_from, raw_to = (raw_from or "").strip(), (raw_to or "").strip()
    start = parse_day(raw_from) if raw_from else None
    end = parse_day(raw_to) if raw_to else None
    error: str | None = None
    if raw_from and (start is None or len(raw_from) != 10):
        error = Problem("The start date is not a date. Use the date picker or the form YYYY-MM-DD.", "from")
        start = None
    elif raw_to and (end is None or len(raw_to) != 10):
        error, end = Problem("The end date is not a date. Use the date picker or the form YYYY-MM-DD.", "to"), None
    elif start and end and start > end:
        error = Problem("The start date is after the end date.", "from", "to")
    if error:
        return Period(None, None, error, raw_from, raw_to)
    return Period(start, end, None, raw_from, raw_to)

