"""The Send Record form: what was typed, and every problem with it in one list (no I/O here)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from fhir_server.portal.forms import Problem
from fhir_server.portal.passwords import RULE_TEXT, unmet_rules
from fhir_server.shl.links import EXPIRY_DAYS

EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>.]{2,}$")
MAX_NOTES = 2000
_DAYS = {str(d) for d in EXPIRY_DAYS}


@dataclass
class SendForm:
    recipient: str = ""
    start: str = ""
    end: str = ""
    notes: str = ""
    days: str = "14"
    problems: list[str] = field(default_factory=list)
    password_problems: list[str] = field(default_factory=list)
    start_date: date | None = None
    end_date: date | None = None

    @property
    def expiry_days(self) -> int:
        return int(self.days) if self.days in _DAYS else EXPIRY_DAYS[0]


def _parse(value: str) -> date | None:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None


def check(form: SendForm, password: str, confirm: str, today: date) -> SendForm:
    """Fill in ``problems`` (and the parsed dates); nothing else is decided here."""
    form.recipient = form.recipient.strip()
    if not form.recipient:
        form.problems.append(Problem("Enter the email address of the person who will receive your record.",
                                     "recipient"))
    elif len(form.recipient) > 254 or not EMAIL.match(form.recipient):
        form.problems.append(Problem(f"“{form.recipient}” does not look like an email address. Check it and try again.",
                                     "recipient"))
    form.start_date, form.end_date = _parse(form.start), _parse(form.end)
    if form.start_date is None or form.end_date is None:
        form.problems.append(Problem("Enter both a start date and an end date.",
                                     *(name for name, day in (("start", form.start_date), ("end", form.end_date))
                                       if day is None)))
    elif form.end_date < form.start_date:
        form.problems.append(Problem("The end date is before the start date. Choose an end date on or after the start "
                                     "date.", "end", "start"))
    elif form.start_date > today:
        form.problems.append(Problem("The start date is in the future. Choose a period that has already begun.",
                                     "start"))
    if len(form.notes) > MAX_NOTES:
        form.problems.append(Problem(f"The notes are too long: please keep them under {MAX_NOTES} characters.",
                                     "notes"))
    if form.days not in _DAYS:  # not isdigit(): "²".isdigit() is True but int("²") raises
        form.problems.append("Choose how long the link should work.")
    form.password_problems = [Problem(RULE_TEXT[name], "password") for name in unmet_rules(password)]
    if password and password != confirm:
        form.password_problems.append(Problem("The two passwords must match", "password_confirm"))
    return form
