"""String search parameters (search.html#string), with ``:exact`` and
``:contains``."""

from __future__ import annotations

from ..errors import FhirError
from .clause_base import RANK_STRING, RANK_WEAK, Clause, _idx, _in
from .definitions import SearchParam
from .encoding import HIGH, SEP, norm


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
