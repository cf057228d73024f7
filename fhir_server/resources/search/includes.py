"""The follow-up queries around a page: chained parameters (search.html#chaining,
resolved before the page by an indexed query on the target types) and
``_include``/``_revinclude`` with ``:iterate`` (search.html#include,
#revinclude), fetched after it under the same access scope.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import FhirError
from .clauses import Clause, compile_clause
from .definitions import SEARCH_PARAMS, get_param, params_for
from .extract import with_every_key
from .has import ReverseChain, resolve_reverse
from .plan import Plan, _restriction_groups, _run, _visible
from .query import Chain, Include, Query
from .scope import SearchScope
from .terminology import TerminologyFilter, resolve_terminology

INCLUDE_LIMIT = 1000
CHAIN_LIMIT = 5000
ITERATE_ROUNDS = 3


# ------------------------------------------------------------------ chains
async def _resolve_chain(db, ch: Chain | ReverseChain | TerminologyFilter, scope: SearchScope,
                         base_url: str) -> Clause:
    if isinstance(ch, ReverseChain):  # _has: the referrers' query gives the ids
        return await resolve_reverse(db, ch, scope, base_url)
    if isinstance(ch, TerminologyFilter):  # :in, :not-in, :above, :below: the server's ValueSets give the codes
        return await resolve_terminology(db, ch, scope, base_url)
    entries: list[str] = []
    for t in ch.types:
        if not scope.type_allowed(t):
            continue
        sp = get_param(t, ch.param)
        assert sp is not None
        sub = Query(types=[t], clauses=[compile_clause(sp, ch.modifier, ch.value, base_url, ch.label)])
        plan = Plan(t, sub, sub.clauses, scope, None, base_url)
        docs = await _run(db, plan, CHAIN_LIMIT + 1, None, False)
        if len(docs) > CHAIN_LIMIT:
            raise FhirError(400, "too-costly", f"Chained parameter {ch.label} matches too many {t} resources",
                            [ch.label])
        entries += [f"{ch.ref.name}\x1f{t}/{d['_id']}" for d in docs]
    from .clauses import ref_entries_clause

    return ref_entries_clause(ch.label, entries)


# ------------------------------------------------------------------ includes
def _ref_targets(doc: dict, inc: Include, rtype: str) -> list[tuple[str, str]]:
    if inc.source not in ("*", rtype):
        return []
    out = []
    for r in doc.get("idx", {}).get("ref", ()):
        name, _, val = r.partition("\x1f")
        if inc.param != "*" and name != inc.param:
            continue
        if "://" in val or val[:1] in ("=", "|") or "/" not in val or val.startswith("urn:"):
            continue
        t, _, i = val.rpartition("/")
        if inc.target and t != inc.target:
            continue
        if t in SEARCH_PARAMS or t:
            out.append((t, i))
    return out


async def _includes(db, q: Query, matches: list[tuple[str, dict]], scope: SearchScope,
                    base_url: str) -> tuple[list[tuple[str, dict]], bool]:
    """The included resources, and whether a query among them stopped at INCLUDE_LIMIT."""
    truncated = False
    seen = {(t, d["_id"]) for t, d in matches}
    out: list[tuple[str, dict]] = []
    frontier = matches
    groups_cache: dict[str, Any] = {}

    def visible(t: str, d: dict) -> bool:
        if t not in groups_cache:
            groups_cache[t] = _restriction_groups(scope, t, base_url)
        if groups_cache[t] is not None:  # a scope's restriction is checked on every search key
            with_every_key(d, base_url)
        return _visible(d, t, scope, groups_cache[t])

    for rnd in range(ITERATE_ROUNDS + 1):
        incs = [i for i in q.includes if rnd == 0 or i.iterate]
        revs = [i for i in q.revincludes if rnd == 0 or i.iterate]
        if not (incs or revs) or not frontier:
            break
        wanted: dict[str, set[str]] = {}
        for t, d in frontier:
            for inc in incs:
                for rt, rid in _ref_targets(d, inc, t):
                    if (rt, rid) not in seen:
                        wanted.setdefault(rt, set()).add(rid)
        new: list[tuple[str, dict]] = []
        for rt, ids in sorted(wanted.items()):
            if not scope.type_allowed(rt) or (rt not in SEARCH_PARAMS and not rt[:1].isupper()):
                continue
            truncated |= await _take_visible(db[rt].find({"_id": {"$in": sorted(ids)}}), rt, visible, seen, new)
        for inc in revs:
            src = inc.source
            if src == "*" or not scope.type_allowed(src):
                continue
            names = [p.name for p in params_for(src).values() if p.type == "reference"] if inc.param == "*" \
                else [inc.param]
            entries = [f"{n}\x1f{t}/{d['_id']}" for n in names for t, d in frontier
                       if not inc.target or inc.target == t]
            if not entries:
                continue
            truncated |= await _take_visible(db[src].find({"idx.ref": {"$in": entries}}), src, visible, seen, new)
        out += new
        frontier = new
    return out, truncated


async def _take_visible(cursor, rtype: str, visible: Callable[[str, dict], bool], seen: set[tuple[str, str]],
                        new: list[tuple[str, dict]]) -> bool:
    """Add to ``new`` up to INCLUDE_LIMIT of the cursor's documents not yet in the Bundle that
    the caller may see; True when one more was left out. What the scope hides does not count
    towards the limit: a limit on the query itself could fill with hidden documents."""
    taken = 0
    try:
        async for d in cursor:
            if (rtype, d["_id"]) in seen or not visible(rtype, d):
                continue
            if taken >= INCLUDE_LIMIT:
                return True
            seen.add((rtype, d["_id"]))
            new.append((rtype, d))
            taken += 1
    finally:
        await cursor.close()
    return False
