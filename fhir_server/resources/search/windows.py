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

from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from .encoding import HIGH
from .extract import SORT_COMPOUNDS

if TYPE_CHECKING:
    from .plan import Plan

FIRST_WIDTH = timedelta(days=30)
#: Below this the last window is open-ended (also holding the "" of resources without the date).
FLOOR = datetime(1900, 1, 1)
CEILING = datetime(9000, 1, 1)
#: How much wider than the density estimate the next window is, so that one more usually fills the page.
SLACK = 1.5
#: How much wider than everything read so far a window may grow in one step.
MAX_GROWTH = 8
#: The round trips one page may take: the last window is open-ended.
MAX_WINDOWS = 16
#: A first page is read in windows only when the lead value's documents are more than this many pages:
#: below it one query costs less than the windows' round trips.
WORTH_IT = 2


HintKey = tuple[str, str, str, tuple[str, ...]]  #: type, lead field, its value, the residual's parameters


@dataclass
class Hint:
    """What the last read of one lead value saw: its newest date, how many documents it has, and
    whether the page filled (when it did not, the whole range was needed: one query is cheaper)."""

    newest: str
    size: int
    full: bool

    def worth_windows(self, limit: int) -> bool:
        return self.full and self.size > WORTH_IT * limit


class Hints:
    """Where a first page's windows should start, per :data:`HintKey`: only a speed hint.

    A first descending page has no cursor to start from, and stepping back from today through
    empty windows costs a round trip each (records imported from years ago). Whatever the hint
    says, the first window is open above, so a newer resource is never missed. Per process and
    bounded (least recently used out): a worker that never saw the value reads it in one query.
    """

    def __init__(self, size: int = 20_000) -> None:  # ~300 bytes each: a few MB at most
        self._size = size
        self._hints: OrderedDict[HintKey, Hint] = OrderedDict()

    def get(self, key: HintKey) -> Hint | None:
        hint = self._hints.get(key)
        if hint is not None:
            self._hints.move_to_end(key)
        return hint

    def clear(self) -> None:
        self._hints.clear()

    def put(self, key: HintKey, hint: Hint) -> None:
        self._hints[key] = hint
        self._hints.move_to_end(key)
        while len(self._hints) > self._size:
            self._hints.popitem(last=False)


HINTS = Hints()


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


def _next_width(width: timedelta, covered: timedelta, found: int, added: int, limit: int) -> timedelta:
    """Double while nothing is found (triple what was covered once past the first finds: the
    record's start is likely behind); else the span the missing entries need at the density seen."""
    if added == 0:
        return max(width * 2, covered * (1 if found == 0 else 3))
    estimate = covered * ((limit - found) / found) * SLACK
    return min(max(estimate, width * 1.5), covered * MAX_GROWTH)  # geometric even when each adds a few


def windows(field: str, bound: list[Any] | None, desc: bool, now: datetime | None = None,
            newest: str | None = None):
    """Yield the successive range conditions on ``field``; ``send((found, limit))`` after each window.

    Descending: the first window is open above, its lower end a month before the cursor's date
    (or ``newest``, or ``now``); the last window is open below. Ascending starts at the cursor's
    date (an ascending first page is one query: there is no cheap way to find the oldest date)
    and ends open above.
    """
    start = bound[0] if bound else None
    if start is None:
        # The first window is open above, so a resource dated in the future (a typo) is in it:
        # it must not move the anchor decades ahead of the record.
        today = datetime.now(UTC).replace(tzinfo=None) if now is None else now
        seen = _parse(newest) if newest else None
        anchor: datetime | None = min(seen, today) if seen else today
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
    before = 0
    if desc:
        # Every tie of the cursor's date is in the first window: the keyset check drops those seen.
        hi: str | None = None if start is None else start + HIGH
        lo_t = anchor - width
        for step in range(1, MAX_WINDOWS + 1):
            final = lo_t <= FLOOR or step == MAX_WINDOWS
            cond: dict[str, str] = {}
            if hi is not None:
                cond["$lt"] = hi
            if not final:
                cond["$gte"] = _iso(lo_t)
            found, limit = yield {field: cond} if cond else {}
            if final:
                return
            hi = cond["$gte"]
            width = _next_width(width, anchor - lo_t, found, found - before, limit)
            before = found
            lo_t = lo_t - width if lo_t - FLOOR > width else FLOOR
    else:
        lo = start
        hi_t = anchor + width
        for step in range(1, MAX_WINDOWS + 1):
            final = hi_t >= CEILING or step == MAX_WINDOWS
            cond = {"$gte": lo} if final else {"$gte": lo, "$lt": _iso(hi_t)}
            found, limit = yield {field: cond}
            if final:
                return
            lo = cond["$lt"]
            width = _next_width(width, hi_t - anchor, found, found - before, limit)
            before = found
            hi_t = hi_t + width if CEILING - hi_t > width else CEILING
