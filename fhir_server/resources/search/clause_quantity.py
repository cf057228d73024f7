"""Quantity and number search parameters with prefixes (search.html#quantity,
#number), and uri search parameters with ``:below``/``:above`` (#uri)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from ..errors import FhirError
from .clause_base import RANK_DATE, RANK_STRING, RANK_TOKEN, RANK_WEAK, Clause, _idx, _in, _split_prefix, bad
from .definitions import SearchParam
from .encoding import HIGH, SEP, key_num, num_key


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
