"""The one date style: days, moments and <time> tags in the practice's zone."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from fhir_server import timefmt

NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")


def test_an_instant_is_shown_in_the_practice_zone() -> None:
    late = "2026-03-10T23:30:00Z"
    assert timefmt.moment(late, NEW_YORK) == "Mar 10, 2026, 7:30 PM"
    assert timefmt.moment(late, TOKYO) == "Mar 11, 2026, 8:30 AM"
    assert timefmt.day(late, TOKYO) == "Mar 11, 2026"
    # A naive datetime from the database is UTC; noon and midnight read as people say them.
    assert timefmt.moment(datetime(2026, 7, 4, 16, 0), NEW_YORK) == "Jul 4, 2026, 12:00 PM"
    assert timefmt.moment(datetime(2026, 7, 4, 4, 5, tzinfo=UTC), NEW_YORK) == "Jul 4, 2026, 12:05 AM"


def test_a_calendar_date_is_never_shifted_and_partial_dates_keep_their_precision() -> None:
    assert timefmt.day("2017-01-01", TOKYO) == "Jan 1, 2017"
    assert timefmt.moment(date(2017, 1, 1), NEW_YORK) == "Jan 1, 2017"
    assert timefmt.day("2017-03", NEW_YORK) == "Mar 2017"
    assert timefmt.day("2017", NEW_YORK) == "2017"
    assert timefmt.day("", NEW_YORK) == "" and timefmt.day(None, NEW_YORK) == ""
    assert timefmt.day("last spring", NEW_YORK) == "last spring"


def test_time_tag_carries_the_instant_for_the_browser_and_escapes_text() -> None:
    # Written with the lab's old offset, shown in New York's summer time (from Mar 8, 2026)
    tag = timefmt.time_tag("2026-03-10T18:30:00-05:00", NEW_YORK, with_time=True)
    assert tag == '<time datetime="2026-03-10T23:30:00Z" data-local="moment">Mar 10, 2026, 7:30 PM</time>'
    assert timefmt.time_tag("2026-03-10", TOKYO) == '<time datetime="2026-03-10">Mar 10, 2026</time>'
    assert timefmt.time_tag("<b>soon</b>", TOKYO) == "&lt;b&gt;soon&lt;/b&gt;"


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "../etc/passwd", "/etc/localtime", " UTC"])
def test_an_unknown_zone_is_refused_in_words(name: str) -> None:
    with pytest.raises(ValueError, match="is not a time zone name"):
        timefmt.zone_named(name)
