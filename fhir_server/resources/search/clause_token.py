"""Token search parameters (search.html#token), with ``:not``, ``:text`` and
``:of-type``."""

from __future__ import annotations

from ..errors import FhirError
from .clause_base import RANK_IDENT, RANK_STRING, RANK_TOKEN, Clause, _idx, _in, bad
from .definitions import SearchParam
from .encoding import HIGH, SEP, norm


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
