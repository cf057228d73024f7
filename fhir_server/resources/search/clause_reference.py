"""Reference search parameters (search.html#reference), with a type modifier
and ``:identifier``; also the clause a resolved chain becomes."""

from __future__ import annotations

from .clause_base import RANK_ID, RANK_TOKEN, Clause, _idx, _in, bad
from .definitions import SearchParam
from .encoding import SEP


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
