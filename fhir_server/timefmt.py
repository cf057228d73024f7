"""One date style for everything a person reads: "Jun 16, 2026" and "Jun 16, 2026, 3:30 PM",
in the practice's time zone (``CARESPACE_TIMEZONE``, default the server's).

Pages, mails and the Send Record viewer all use it. On a page, ``time_tag`` also writes the
instant into ``<time datetime>`` so that ``static/local-time.js`` can show it in the browser's
own zone with the same style; the server's text is what a page without JavaScript shows.
A zone name is never printed: the times are the reader's local times.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import tzlocal
from markupsafe import Markup, escape

Moment = str | date | datetime | None


def server_zone_name() -> str:
    """The IANA name of this machine's zone ("Etc/UTC" when it has none configured)."""
    try:
        return tzlocal.get_localzone_name() or "Etc/UTC"
    except (ZoneInfoNotFoundError, LookupError, ValueError):
        return "Etc/UTC"


def zone_named(name: str) -> ZoneInfo:
    """The zone for an IANA name such as "America/New_York"; ValueError in words otherwise."""
    try:
        if not name or name != name.strip() or name.startswith("/") or ".." in name:
            raise ValueError
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not a time zone name such as America/New_York") from None


def parse(value: Moment) -> date | datetime | str | None:
    """A FHIR date, dateTime or instant (or a Python date/datetime) as a date or an aware
    datetime; a partial date ("2017", "2017-03") stays a string; text that is not a date too."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)  # the database stores UTC
    if isinstance(value, date):
        return value
    text = str(value).strip()
    if len(text) <= 7:
        return text
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _day_text(day: date) -> str:
    return f"{day:%b} {day.day}, {day.year}"


def _partial(text: str) -> str:
    """ "2017" as is, "2017-03" as "Mar 2017", anything else unchanged."""
    if len(text) == 7 and text[4] == "-":
        try:
            return f"{date(int(text[:4]), int(text[5:]), 1):%b %Y}"
        except ValueError:
            return text
    return text


def day(value: Moment, zone: tzinfo) -> str:
    """ "Jun 16, 2026": the day in ``zone`` (a plain date is never shifted)."""
    parsed = parse(value)
    if parsed is None:
        return ""
    if isinstance(parsed, str):
        return _partial(parsed)
    if isinstance(parsed, datetime):
        return _day_text(parsed.astimezone(zone).date())
    return _day_text(parsed)


def moment(value: Moment, zone: tzinfo) -> str:
    """ "Jun 16, 2026, 3:30 PM" in ``zone`` (just the day when the value has no time)."""
    parsed = parse(value)
    if not isinstance(parsed, datetime):
        return day(value, zone)
    local = parsed.astimezone(zone)
    return f"{_day_text(local.date())}, {clock(local)}"


def clock(local: datetime) -> str:
    """ "3:30 PM" (the caller has already put ``local`` in the reader's zone)."""
    return f"{local.hour % 12 or 12}:{local:%M} {'AM' if local.hour < 12 else 'PM'}"


def time_tag(value: Moment, zone: tzinfo, *, with_time: bool = False) -> Markup:
    """``<time>`` with the day (or moment) as text; an instant also gets ``data-local`` so the
    browser re-writes it in its own zone."""
    parsed = parse(value)
    if parsed is None:
        return Markup("")
    text = moment(value, zone) if with_time else day(value, zone)
    if isinstance(parsed, datetime):
        kind = "moment" if with_time else "day"
        stamp = parsed.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        return Markup('<time datetime="{}" data-local="{}">{}</time>').format(stamp, kind, text)
    if isinstance(parsed, date):
        return Markup('<time datetime="{}">{}</time>').format(parsed.isoformat(), text)
    return escape(text)
