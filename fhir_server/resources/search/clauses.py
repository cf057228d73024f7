"""Compile one search parameter occurrence into a clause: an optional indexed
MongoDB predicate (one field) plus an exact Python check on the stored ``idx``.

Semantics follow FHIR R4 search (https://hl7.org/fhir/R4/search.html):
token (#token), reference (#reference), date with prefixes (#prefix, #date),
string (#string), quantity (#quantity), number (#number), uri (#uri) and the
``:missing``/``:not``/``:text``/``:exact``/``:contains``/``:of-type``/
``:identifier``/``:below`` modifiers (#modifiers).  A comma means OR inside one
clause; repeating a parameter ANDs clauses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from ..errors import FhirError
from .definitions import SearchParam
from .encoding import HIGH, SEP, date_range, key_num, key_to_datetime, norm, num_key

PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
MIN_DATE = "0000-01-01T00:00:00.000Z"
MAX_DATE = "9999-12-31T23:59:59.999Z"

# Driving ranks (lower = preferred as the one indexed predicate).
RANK_ID, RANK_COMP, RANK_IDENT, RANK_TOKEN, RANK_DATE, RANK_STRING, RANK_WEAK, NO_DRIVE = 0, 1, 2, 3, 4, 5, 8, 99


@dataclass
class Clause:
    """One AND-ed search condition."""

    label: str
    match: Callable[[dict], bool]
    field: str | None = None
    cond: Any = None
    rank: int = NO_DRIVE
    exact: bool = False  #: the MongoDB predicate alone decides the clause
    patient_ids: frozenset[str] | None = None  #: set when the clause only matches Patient/<id> references
    ref_param: str | None = None


def bad(param: str, why: str) -> FhirError:
    """400 naming the parameter."""
    return FhirError(400, "invalid", f"Invalid search parameter {param}: {why}", [param])


def _split_prefix(v: str) -> tuple[str, str]:
    if len(v) > 2 and v[:2] in PREFIXES and (v[2].isdigit() or v[2] in "-+."):
        return v[:2], v[2:]
    return "eq", v


def _in(values: list[str]) -> Any:
    return values[0] if len(values) == 1 else {"$in": values}


def _idx(doc: dict, kind: str) -> list:
    return doc.get("idx", {}).get(kind, ())


# ---------------------------------------------------------------- token
def token_entries(p: str, v: str, modifier: str | None, label: str) -> tuple[list[str], str | None]:
    """Exact index entries (OR) for a token value, or a ``t:`` prefix for ``:text``."""
    pre = p + SEP
    if modifier == "text":
        return [], pre + "t:" + norm(v)
    if modifier == "of-type":
        parts = v.split("|")
        if len(parts) != 3:
            raise bad(label, "expected system|code|value for :of-type")
        return [pre + "o:" + v], None
    if "|" in v:
        system, code = v.split("|", 1)
        if not code:
            return [pre + "S:" + system], None
        return [pre + "s:" + system + "|" + code], None
    return [pre + "c:" + v], None


def token_clause(sp: SearchParam, modifier: str | None, values: list[str], label: str) -> Clause:
    entries: list[str] = []
    prefixes: list[str] = []
    mod = None if modifier == "not" else modifier
    if mod not in (None, "text", "of-type"):
        raise FhirError(400, "not-supported", f"Modifier :{modifier} is not supported on {sp.name}", [label])
    for v in values:
        e, pfx = token_entries(sp.name, v, mod, label)
        entries += e
        if pfx:
            prefixes.append(pfx)
    ent = frozenset(entries)

    def match(doc: dict) -> bool:
        toks = _idx(doc, "tok")
        hit = any(t in ent for t in toks) or any(t.startswith(x) for x in prefixes for t in toks)
        return not hit if modifier == "not" else hit

    if modifier == "not":
        return Clause(label, match)
    rank = RANK_IDENT if sp.name == "identifier" else RANK_TOKEN
    if prefixes and not entries and len(prefixes) == 1:
        return Clause(label, match, "idx.tok", {"$gte": prefixes[0], "$lt": prefixes[0] + HIGH}, RANK_STRING, True)
    if prefixes:
        return Clause(label, match)
    return Clause(label, match, "idx.tok", _in(entries), rank, True)


# ---------------------------------------------------------------- reference
def reference_entries(sp: SearchParam, v: str, type_mod: str | None, base_url: str, label: str) -> list[str]:
    """Index entries (OR) matching one reference search value."""
    pre = sp.name + SEP
    if base_url and v.startswith(base_url):
        v = v[len(base_url):].lstrip("/")
    if "/_history/" in v:
        v = v.split("/_history/", 1)[0]
    if "://" in v or v.startswith("urn:"):
        return [pre + v]
    if "/" in v:
        rtype = v.rsplit("/", 1)[0]
        if type_mod and rtype != type_mod:
            raise bad(label, f"type modifier :{type_mod} conflicts with {v}")
        return [pre + v]
    if not v:
        raise bad(label, "empty reference")
    if type_mod:
        return [pre + f"{type_mod}/{v}"]
    if len(sp.targets) == 1:
        return [pre + f"{next(iter(sp.targets))}/{v}"]
    return [pre + "=" + v]


def reference_clause(sp: SearchParam, modifier: str | None, values: list[str], base_url: str, label: str) -> Clause:
    entries: list[str] = []
    for v in values:
        if modifier == "identifier":
            if "|" in v:
                system, code = v.split("|", 1)
                entries.append(sp.name + SEP + ("|S:" + system if not code else "|s:" + system + "|" + code))
            else:
                entries.append(sp.name + SEP + "|c:" + v)
        else:
            entries += reference_entries(sp, v, modifier, base_url, label)
    clause = ref_entries_clause(label, entries)
    pre = sp.name + SEP + "Patient/"
    if entries and all(e.startswith(pre) for e in entries):
        clause.patient_ids = frozenset(e[len(pre):] for e in entries)
        clause.ref_param = sp.name
    return clause


def ref_entries_clause(label: str, entries: list[str]) -> Clause:
    ent = frozenset(entries)

    def match(doc: dict) -> bool:
        return any(r in ent for r in _idx(doc, "ref"))

    if not entries:
        return Clause(label, lambda doc: False, "idx.ref", {"$in": []}, RANK_ID, True)
    return Clause(label, match, "idx.ref", _in(entries), RANK_TOKEN, True)


# ---------------------------------------------------------------- date
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


# ---------------------------------------------------------------- string
def string_clause(sp: SearchParam, modifier: str | None, values: list[str], label: str) -> Clause:
    pre = sp.name + SEP
    if modifier == "exact":
        ent = frozenset(pre + v for v in values)
        return Clause(label, lambda doc: any(s in ent for s in _idx(doc, "sx")), "idx.sx", _in(sorted(ent)),
                      RANK_STRING, True)
    if modifier not in (None, "contains"):
        raise FhirError(400, "not-supported", f"Modifier :{modifier} is not supported on {sp.name}", [label])
    needles = [norm(v) for v in values]
    if modifier == "contains":
        n = len(pre)

        def match_c(doc: dict) -> bool:
            return any(s.startswith(pre) and any(x in s[n:] for x in needles) for s in _idx(doc, "str"))

        return Clause(label, match_c, "idx.has", sp.name, RANK_WEAK, False)
    prefixes = tuple(pre + x for x in needles)

    def match(doc: dict) -> bool:
        return any(s.startswith(prefixes) for s in _idx(doc, "str"))

    if len(prefixes) == 1:
        return Clause(label, match, "idx.str", {"$gte": prefixes[0], "$lt": prefixes[0] + HIGH}, RANK_STRING, True)
    return Clause(label, match)


# ---------------------------------------------------------------- number / quantity
def _num_range(label: str, text: str) -> tuple[float, float, float]:
    try:
        d = Decimal(text)
    except InvalidOperation:
        raise bad(label, f"'{text}' is not a number") from None
    if not d.is_finite():
        raise bad(label, f"'{text}' is not a number")
    exp = d.as_tuple().exponent
    half = Decimal(5) * Decimal(10) ** (int(exp) - 1)
    return float(d), float(d - half), float(d + half)


def quantity_clause(sp: SearchParam, values: list[str], label: str) -> Clause:
    pre = sp.name + SEP
    n = len(pre)
    specs = []
    for v in values:
        prefix, rest = _split_prefix(v)
        parts = rest.split("|")
        if sp.type == "number" and len(parts) > 1:
            raise bad(label, f"'{v}' is not a number")
        num, lo, hi = _num_range(label, parts[0])
        system = parts[1] if len(parts) > 1 else ""
        code = parts[2] if len(parts) > 2 else ""
        specs.append((prefix, num, lo, hi, system, code))

    def ok(x: float, units: str, spec: tuple) -> bool:
        prefix, num, lo, hi, system, code = spec
        if system or code:
            s, c, u = ([*units.split("|"), "", ""])[:3]
            if system and s != system:
                return False
            if code and (c != code if system else code not in (c, u)):
                return False
        if prefix == "eq":
            return lo <= x < hi
        if prefix == "ne":
            return not lo <= x < hi
        if prefix in ("gt", "sa"):
            return x > num
        if prefix in ("lt", "eb"):
            return x < num
        if prefix == "ge":
            return x >= num
        if prefix == "le":
            return x <= num
        tol = abs(num) * 0.1  # ap: 10 %
        return num - tol <= x <= num + tol

    def match(doc: dict) -> bool:
        idx = doc.get("idx", {})
        for k, units in zip(idx.get("num", ()), idx.get("qu", ()), strict=False):
            if k.startswith(pre):
                x = key_num(k[n:])
                if any(ok(x, units, s) for s in specs):
                    return True
        return False

    if len(specs) == 1:
        prefix, num, lo, hi, _, _ = specs[0]
        top = pre + HIGH
        cond = {
            "eq": {"$gte": pre + num_key(lo), "$lt": pre + num_key(hi)},
            "gt": {"$gt": pre + num_key(num), "$lt": top}, "sa": {"$gt": pre + num_key(num), "$lt": top},
            "ge": {"$gte": pre + num_key(num), "$lt": top},
            "lt": {"$gte": pre, "$lt": pre + num_key(num)}, "eb": {"$gte": pre, "$lt": pre + num_key(num)},
            "le": {"$gte": pre, "$lte": pre + num_key(num)},
        }.get(prefix)
        if cond:
            return Clause(label, match, "idx.num", cond, RANK_DATE, False)
    return Clause(label, match)


# ---------------------------------------------------------------- uri
def uri_clause(sp: SearchParam, modifier: str | None, values: list[str], label: str) -> Clause:
    pre = sp.name + SEP
    if modifier == "below":
        prefixes = tuple(pre + v for v in values)

        def match_b(doc: dict) -> bool:
            return any(u.startswith(prefixes) for u in _idx(doc, "uri"))

        if len(prefixes) == 1:
            cond = {"$gte": prefixes[0], "$lt": prefixes[0] + HIGH}
            return Clause(label, match_b, "idx.uri", cond, RANK_STRING, True)
        return Clause(label, match_b)
    if modifier == "above":
        n = len(pre)

        def match_a(doc: dict) -> bool:
            return any(u.startswith(pre) and any(v.startswith(u[n:]) for v in values) for u in _idx(doc, "uri"))

        return Clause(label, match_a, "idx.has", sp.name, RANK_WEAK, False)
    if modifier is not None:
        raise FhirError(400, "not-supported", f"Modifier :{modifier} is not supported on {sp.name}", [label])
    ent = frozenset(pre + v for v in values)
    return Clause(label, lambda doc: any(u in ent for u in _idx(doc, "uri")), "idx.uri", _in(sorted(ent)),
                  RANK_TOKEN, True)


# ---------------------------------------------------------------- common
def missing_clause(sp: SearchParam, value: str, label: str) -> Clause:
    if value not in ("true", "false"):
        raise bad(label, "expected true or false")
    name = sp.name
    if value == "true":
        return Clause(label, lambda doc: name not in doc.get("idx", {}).get("has", ()))
    return Clause(label, lambda doc: name in doc.get("idx", {}).get("has", ()), "idx.has", name, RANK_WEAK, True)


def id_clause(values: list[str], label: str, negate: bool = False) -> Clause:
    ids = frozenset(values)
    if negate:
        return Clause(label, lambda doc: doc["_id"] not in ids)
    return Clause(label, lambda doc: doc["_id"] in ids, "_id", _in(sorted(ids)), RANK_ID, True)


def compile_clause(sp: SearchParam, modifier: str | None, raw: str, base_url: str, label: str) -> Clause:
    """Compile ``name[:modifier]=raw`` (raw may hold comma-separated OR values)."""
    values = split_or(raw)
    if not values:
        raise bad(label, "empty value")
    if modifier == "missing":
        return missing_clause(sp, raw, label)
    if sp.name == "_id":
        if modifier not in (None, "not"):
            raise FhirError(400, "not-supported", f"Modifier :{modifier} is not supported on _id", [label])
        return id_clause(values, label, modifier == "not")
    t = sp.type
    if t == "token":
        return token_clause(sp, modifier, values, label)
    if t == "reference":
        return reference_clause(sp, modifier, values, base_url, label)
    if modifier is not None and t in ("date", "quantity", "number"):
        raise FhirError(400, "not-supported", f"Modifier :{modifier} is not supported on {sp.name}", [label])
    if t == "date":
        return date_clause(sp, values, label)
    if t == "string":
        return string_clause(sp, modifier, values, label)
    if t in ("quantity", "number"):
        return quantity_clause(sp, values, label)
    if t == "uri":
        return uri_clause(sp, modifier, values, label)
    raise FhirError(400, "not-supported", f"Search parameter type {t} is not supported", [label])


def split_or(raw: str) -> list[str]:
    """Split on commas not escaped with a backslash (search.html#escaping)."""
    out, cur, i = [], [], 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\" and i + 1 < len(raw) and raw[i + 1] in ",$|\\":
            cur.append(raw[i + 1])
            i += 2
            continue
        if ch == ",":
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    out.append("".join(cur))
    return [v for v in out if v != ""]
