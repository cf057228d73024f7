"""Date search parameters with prefixes (search.html#date, #prefix), and
``_lastUpdated`` on the stored ``lu`` datetime."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from .clause_base import RANK_DATE, Clause, _split_prefix, bad
from .definitions import SearchParam
from .encoding import HIGH, SEP, date_range, key_to_datetime

MIN_DATE = "0000-01-01T00:00:00.000Z"
MAX_DATE = "9999-12-31T23:59:59.999Z"


def parse_date(label: str, v: str) -> tuple[str, str, str]:
    """Split ``ge2020-03`` into (prefix, lo, hi); 400 if not a FHIR date."""
    prefix, rest = _split_prefix(v)
    rng = date_range(rest)
    if rng is None:
        raise bad(label, f"'{v}' is not a valid date")
    return prefix, rng[0], rng[1]


def _widen(lo: str, hi: str) -> tuple[str, str]:
    """``ap``: widen by 10% of the distance to now (at least a day), search.html#prefix."""
    now = datetime.now(UTC)
    a, b = key_to_datetime(lo), key_to_datetime(hi)
    gap = max(abs(now - a), abs(now - b)) * 0.1
    gap = max(gap, timedelta(days=1))
    return (
        (a - gap).strftime("%Y-%m-%dT%H:%M:%S.000Z") if (a - gap).year > 0 else MIN_DATE,
        (b + gap).strftime("%Y-%m-%dT%H:%M:%S.999Z") if (b + gap).year < 9999 else MAX_DATE,
    )


def date_test(prefix: str, slo: str, shi: str) -> Callable[[str, str], bool]:
    """Comparator on a target (lo, hi) for one prefixed search value."""
    if prefix == "ap":
        slo, shi = _widen(slo, shi)
    tests: dict[str, Callable[[str, str], bool]] = {
        "eq": lambda lo, hi: lo >= slo and hi <= shi,
        "ne": lambda lo, hi: not (lo >= slo and hi <= shi),
        "gt": lambda lo, hi: hi > shi,
        "lt": lambda lo, hi: lo < slo,
        "ge": lambda lo, hi: hi >= slo,
        "le": lambda lo, hi: lo <= shi,
        "sa": lambda lo, hi: lo > shi,
        "eb": lambda lo, hi: hi < slo,
        "ap": lambda lo, hi: lo <= shi and hi >= slo,
    }
    return tests[prefix]


def _date_drive(pre: str, prefix: str, slo: str, shi: str) -> tuple[str, dict] | None:
    if prefix == "ap":
        slo, shi = _widen(slo, shi)
    top = pre + HIGH
    return {
        "eq": ("idx.dlo", {"$gte": pre + slo, "$lte": pre + shi}),
        "gt": ("idx.dhi", {"$gt": pre + shi, "$lt": top}),
        "ge": ("idx.dhi", {"$gte": pre + slo, "$lt": top}),
        "lt": ("idx.dlo", {"$gte": pre, "$lt": pre + slo}),
        "le": ("idx.dlo", {"$gte": pre, "$lte": pre + shi}),
        "sa": ("idx.dlo", {"$gt": pre + shi, "$lt": top}),
        "eb": ("idx.dhi", {"$gte": pre, "$lt": pre + slo}),
        "ap": ("idx.dlo", {"$gte": pre, "$lte": pre + shi}),
    }.get(prefix)


def date_clause(sp: SearchParam, values: list[str], label: str) -> Clause:
    parsed = [parse_date(label, v) for v in values]
    tests = [date_test(*x) for x in parsed]
    if sp.name == "_lastUpdated":
        def match_lu(doc: dict) -> bool:
            lu = doc.get("lu")
            if lu is None:
                return False
            k = _lu_key(lu)
            return any(t(k, k) for t in tests)

        drive = None
        if len(parsed) == 1:
            prefix, slo, shi = parsed[0]
            drive = _lu_drive(prefix, slo, shi)
        if drive is None:
            return Clause(label, match_lu)
        return Clause(label, match_lu, "lu", drive, RANK_DATE, False)

    pre = sp.name + SEP
    n = len(pre)

    def match(doc: dict) -> bool:
        idx = doc.get("idx", {})
        for lo, hi in zip(idx.get("dlo", ()), idx.get("dhi", ()), strict=False):
            if lo.startswith(pre) and any(t(lo[n:], hi[n:]) for t in tests):
                return True
        return False

    if len(parsed) == 1:
        d = _date_drive(pre, *parsed[0])
        if d:
            return Clause(label, match, d[0], d[1], RANK_DATE, False)
    return Clause(label, match)


def _lu_key(lu: datetime) -> str:
    if lu.tzinfo is not None:
        lu = lu.astimezone(UTC).replace(tzinfo=None)
    return f"{lu.year:04d}-{lu.month:02d}-{lu.day:02d}T{lu:%H:%M:%S}.{lu.microsecond // 1000:03d}Z"


def _lu_drive(prefix: str, slo: str, shi: str) -> dict | None:
    # lu is indexed by (lu, _id); SecantusDB 0.7 mishandles $lte on compound
    # indexes, so upper bounds are written as $lt the next millisecond.
    lo, after = key_to_datetime(slo), key_to_datetime(shi) + timedelta(milliseconds=1)
    return {
        "eq": {"$gte": lo, "$lt": after},
        "gt": {"$gte": after}, "sa": {"$gte": after},
        "ge": {"$gte": lo},
        "lt": {"$lt": lo}, "eb": {"$lt": lo},
        "le": {"$lt": after},
    }.get(prefix)
