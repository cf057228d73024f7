"""A date-sorted page read in bounded time windows on a compound index.

Why: SecantusDB 0.7 fetches, decodes and sorts in memory EVERY document an
equality on an index prefix matches, whatever the sort and the limit (a lab
list of 50 on a patient with 500 Observations read all 500: ~45 ms), while a
bounded range on the next key of a compound index, ``{comp: X,
"idx.srt.date": {"$gte": a, "$lt": b}}``, reads only the documents in the
range (~0.6 ms + ~0.1 ms a document, measured with the bench data set).  So a
page sorted on a date that such an index covers ((comp, idx.srt.<date>, _id),
(idx.ref, idx.srt.date, _id) of AuditEvent) is read window by window: the
newest window first (descending; the oldest after the cursor ascending), each
next window adjacent to the last, wider by what the found density says the
page still needs (at least doubling), until the page is full or the range is
exhausted.  The windows partition the key range on the date alone, so ties on
a date never straddle two windows; within one window the database's sort
(date, _id) and the keyset check order them exactly as one query would.

On MongoDB the index gives the order and the first window is the whole
answer's head, so the same reads stay cheap there.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from .encoding import HIGH
from .extract import SORT_COMPOUNDS

if TYPE_CHECKING:
    from .plan import Plan

FIRST_WIDTH = timedelta(days=30)
#: Below this the last window is open-ended (also holding the "" of resources without the date).
FLOOR = datetime(1000, 1, 1)
CEILING = datetime(9000, 1, 1)
#: How much wider than the density estimate the next window is, so that one more usually fills the page.
SLACK = 1.5
#: How much wider than everything read so far a window may grow in one step.
MAX_GROWTH = 8


def window_field(plan: Plan) -> str | None:
    """The sort-date field of the compound index that the plan's driving equality leads, if any."""
    if len(plan.filter) != 1:
        return None
    (lead, value), = plan.filter.items()
    if not isinstance(value, str):  # an $in over several compartments: one range per value would be needed
        return None
    param = plan.sort[0][0]
    if (lead, param) not in SORT_COMPOUNDS.get(plan.rtype, ()):
        return None
    return f"idx.srt.{param}"


def _parse(key: str) -> datetime | None:
    try:
        return datetime.strptime(key[:23], "%Y-%m-%dT%H:%M:%S.%f")
    except ValueError:
        return None


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _next_width(width: timedelta, covered: timedelta, found: int, limit: int) -> timedelta:
    """Double while nothing was found; else the span the missing entries need at the density seen."""
    if found == 0:
        return max(width, covered)
    estimate = covered * ((limit - found) / found) * SLACK
    return min(max(estimate, width), covered * MAX_GROWTH)


def windows(field: str, bound: list[Any] | None, desc: bool, now: datetime | None = None):
    """Yield the successive range conditions on ``field``; ``send((found, limit))`` after each window.

    Descending: the first window is open above (the cursor's date, or the future), the
    last open below. Ascending starts at the cursor's date (the caller reads an ascending
    first page in one query: there is no cheap way to find the oldest date) and ends open above.
    """
    start = bound[0] if bound else None
    if start is None:
        anchor: datetime | None = datetime.now(UTC).replace(tzinfo=None) if now is None else now
    else:
        anchor = _parse(start)
    if start is not None and anchor is None:
        # The cursor is among the resources without the date (""), which sort last descending and
        # first ascending, or holds no date this module can step from: one open-ended range.
        if desc:
            yield {field: ""} if start == "" else {field: {"$lt": start + HIGH}}
        else:
            yield {field: {"$gte": start}}
        return
    assert anchor is not None
    width = FIRST_WIDTH
    if desc:
        # Every tie of the cursor's date is in the first window: the keyset check drops those seen.
        hi: str | None = None if start is None else start + HIGH
        lo_t = anchor - width
        while True:
            final = lo_t <= FLOOR
            cond: dict[str, str] = {}
            if hi is not None:
                cond["$lt"] = hi
            if not final:
                cond["$gte"] = _iso(lo_t)
            found, limit = yield {field: cond} if cond else {}
            if final:
                return
            hi = cond["$gte"]
            width = _next_width(width, anchor - lo_t, found, limit)
            lo_t = lo_t - width if lo_t - FLOOR > width else FLOOR
    else:
        lo = start
        hi_t = anchor + width
        while True:
            final = hi_t >= CEILING
            cond = {"$gte": lo} if final else {"$gte": lo, "$lt": _iso(hi_t)}
            found, limit = yield {field: cond}
            if final:
                return
            lo = cond["$lt"]
            width = _next_width(width, hi_t - anchor, found, limit)
            hi_t = hi_t + width if CEILING - hi_t > width else CEILING
