"""The query plan of one resource type: the one MongoDB predicate that drives
the search, the keyset bound it can carry, and the residue checked in Python.

Why one driving predicate: the embedded database (SecantusDB 0.7) uses an
index only when *every* predicate of a filter is covered by one single index;
``{"comp": x, "idx.tok": y}`` with an index on each field, ``$or``,
``$elemMatch`` and anchored ``$regex`` all scan the collection, and ``hint()``
is pathologically slow.  So the planner sends MongoDB exactly one indexed
predicate, the most selective one (``_id``, then the Patient compartment of
the access scope, of a compartment search or of a ``patient=`` reference,
then identifiers, tokens and references, dates, strings), plus a keyset bound
only where a compound index covers it ((comp, _id), (comp, idx.srt.<date>, _id)),
and evaluates every other clause, the access scope and the exact pairings
the flat encoding loses (a date's lo and hi, a quantity's value and unit) in
Python on the streamed documents, stopping once the page is full (+1 to know
there is a next page).  On a real MongoDB the same plan is as good.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ..errors import FhirError
from .clauses import RANK_COMP, Clause, bad, compile_clause
from .compartment import PATIENT_COMPARTMENT, REFERENCE_DATA
from .definitions import get_param, params_for
from .encoding import HIGH
from .extract import DRIVING_FIELDS, PORTAL_SORTS, with_every_key
from .paging import _after, _sort_key
from .query import Query
from .scope import SearchScope
from .windows import HINTS, WORTH_IT, Hint, window_field, windows


# ------------------------------------------------------------------ helpers
def _sort_field(param: str) -> str:
    return {"_id": "_id", "_lastUpdated": "lu"}.get(param, f"idx.srt.{param}")


def _comp_paths(rtype: str) -> set[str]:
    params = params_for(rtype)
    return {path for name in PATIENT_COMPARTMENT.get(rtype, ()) for path in params[name].paths}


def _restriction_groups(scope: SearchScope, rtype: str, base_url: str) -> list[list[Clause]] | None:
    groups = scope.restrictions.get(rtype)
    if groups is None:
        return None
    out = []
    for group in groups:
        clauses = []
        for key, value in group:
            name, _, mod = key.partition(":")
            sp = get_param(rtype, name)
            if sp is None:
                raise FhirError(500, "exception", f"scope restriction on unknown parameter {rtype}.{name}")
            clauses.append(compile_clause(sp, mod or None, value, base_url, key))
        out.append(clauses)
    return out


def _visible(doc: dict, rtype: str, scope: SearchScope, groups: list[list[Clause]] | None) -> bool:
    if not scope.comp_allowed(rtype, doc.get("comp")):
        return False
    return not (groups is not None and not any(all(c.match(doc) for c in g) for g in groups))


# ------------------------------------------------------------------ plan
class Plan:
    """The one MongoDB predicate, the Python residue, and the sort of one type."""

    def __init__(self, rtype: str, q: Query, clauses: list[Clause], scope: SearchScope,
                 compartment: tuple[str, str] | None, base_url: str) -> None:
        self.rtype = rtype
        self.scope = scope
        self.base_url = base_url
        self.groups = _restriction_groups(scope, rtype, base_url)
        self.empty = False
        comp_ids: frozenset[str] | None = None
        comp_exact = False  # the comp driver is exactly the access scope / compartment search
        if compartment is not None:
            comp_ids = frozenset([compartment[1]])
            comp_exact = True
        if scope.patients is not None and rtype in PATIENT_COMPARTMENT:
            comp_ids = scope.patients if comp_ids is None else comp_ids & scope.patients
            comp_exact = True
        elif scope.patients is not None and rtype not in REFERENCE_DATA:
            # Patient data outside the definition: only the caller's compartments can hold what it
            # may see (the residue checks that the resource names no other patient).
            comp_ids = scope.patients if comp_ids is None else comp_ids & scope.patients
        cpaths = _comp_paths(rtype)
        ref_comp: Clause | None = None
        for c in clauses:
            sp = get_param(rtype, c.ref_param) if c.ref_param else None
            if c.patient_ids is not None and sp is not None and set(sp.paths) <= cpaths:
                ids = c.patient_ids if comp_ids is None else comp_ids & c.patient_ids
                comp_ids, ref_comp = ids, c
        self.residual = list(clauses)
        self.filter: dict[str, Any] = {}
        self.driver = None
        if comp_ids is not None:
            if not comp_ids:
                self.empty = True
            self.filter = {"comp": next(iter(comp_ids)) if len(comp_ids) == 1 else {"$in": sorted(comp_ids)}}
            self.driver = "comp"
            self.comp_covers_scope = (comp_exact and ref_comp is None) or (ref_comp is not None and not comp_exact)
        indexed = DRIVING_FIELDS.get(rtype)
        best = min((c for c in clauses if c.field and (indexed is None or c.field in indexed)),
                   key=lambda c: c.rank, default=None)
        if best is not None and (self.driver is None or best.rank < RANK_COMP):
            self.filter = {best.field: best.cond}
            self.driver = best.field
            if best.exact:
                self.residual.remove(best)
        if indexed is not None and self.driver is None and clauses:
            # Nothing indexed drives it: it would read the whole (ever growing) collection.
            raise FhirError(400, "too-costly", f"A {rtype} search needs one of the parameters that select "
                            "a patient, an agent, an entity or another reference, _id or _lastUpdated.")
        # Total is cheap when MongoDB alone decides membership.
        scope_in_driver = (scope.patients is None or (self.driver == "comp" and comp_exact)) and self.groups is None
        self.exact = not self.residual and scope_in_driver
        # A type stored with part of its search keys (extract.stored_index) has the rest computed
        # for the clauses checked here; the keyset sort reads only idx.srt, which is stored.
        self.full_idx = indexed is not None and (bool(self.residual) or self.groups is not None)
        self.sort = q.sort or [("_id", False)]
        self.dirs = [d for _, d in self.sort] + [self.sort[0][1]]

    def mongo_sort(self, reverse: bool) -> list[tuple[str, int]]:
        spec = [(_sort_field(p), -1 if d != reverse else 1) for p, d in self.sort if p != "_id"]
        first_desc = self.sort[0][1] != reverse
        spec.append(("_id", -1 if first_desc else 1))
        return spec

    def bounded_filter(self, bound: list[Any] | None, reverse: bool) -> dict[str, Any]:
        """The filter plus the keyset bound where a compound index covers it."""
        f = dict(self.filter)
        if bound is None:
            return f
        desc = self.sort[0][1] != reverse
        first, k = self.sort[0][0], bound[0]
        # SecantusDB 0.7 drops keys equal to a $lte bound on a compound index
        # (it compares the bound as a shorter key): bound with $lt on the next value.
        if self.driver == "comp" and first == "_id":
            f["_id"] = {"$lt" if desc else "$gt": bound[-1]}
        elif self.driver == "comp" and PORTAL_SORTS.get(self.rtype) == first:
            f[f"idx.srt.{first}"] = {"$lt": k + HIGH} if desc else {"$gte": k}
        elif self.driver is None and first == "_lastUpdated" and k:
            try:
                t = datetime.strptime(k, "%Y-%m-%dT%H:%M:%S.%fZ")
            except ValueError:
                raise bad("_cursor", "not a cursor issued by this server") from None
            f["lu"] = {"$lt": t + timedelta(milliseconds=1)} if desc else {"$gte": t}
        return f

    def matches(self, doc: dict) -> bool:
        if self.full_idx:
            with_every_key(doc, self.base_url)
        return all(c.match(doc) for c in self.residual) and _visible(doc, self.rtype, self.scope, self.groups)


async def _run(db, plan: Plan, limit: int, bound: list[Any] | None, reverse: bool) -> list[dict]:
    """Stream the driving query and keep up to ``limit`` matching documents after ``bound``.

    A page sorted on a date a compound index covers is read in windows (see :mod:`.windows`):
    always after a cursor; for a descending first page, once an earlier read showed the lead
    value holding more than a few pages (until then one query, which teaches the hint).
    """
    if plan.empty or limit <= 0:
        return []
    out: list[dict] = []
    field = window_field(plan)
    desc = plan.sort[0][1] != reverse
    if field is None or (bound is None and not desc):
        await _stream(db, plan, plan.bounded_filter(bound, reverse), limit, bound, reverse, out)
        return out
    (lead, value), = plan.filter.items()
    key = (plan.rtype, lead, value, tuple(sorted(c.label for c in plan.residual)))
    hint = HINTS.get(key) if bound is None else None
    if bound is None and (hint is None or not hint.worth_windows(limit)):
        streamed, first = await _stream(db, plan, plan.filter, limit, None, reverse, out)
        if first is not None:
            # A page filled before the end leaves the size unknown (the database read it all):
            # take it as worth windows, whose first one starts at the newest date seen here.
            full = len(out) >= limit
            size = max(streamed, WORTH_IT * limit + 1) if full else streamed
            HINTS.put(key, Hint(_sort_key(first, plan.sort)[0], size, full))
        return out
    steps = windows(field, bound, desc, newest=hint.newest if hint else None)
    cond = next(steps)
    while True:
        streamed, first = await _stream(db, plan, {**plan.filter, **cond}, limit, bound, reverse, out)
        if hint is not None and first is not None:  # the first window holds the newest date
            hint.newest = max(hint.newest, _sort_key(first, plan.sort)[0])
            hint = None
        if len(out) >= limit:
            break
        try:
            cond = steps.send((len(out), limit))
        except StopIteration:
            if bound is None and (hint := HINTS.get(key)) is not None:
                hint.full = False  # the windows ran out before the page filled: one query next time
            break
    return out


async def _stream(db, plan: Plan, mongo_filter: dict[str, Any], limit: int, bound: list[Any] | None,
                  reverse: bool, out: list[dict]) -> tuple[int, dict | None]:
    """Append to ``out`` the matching documents of one query after ``bound``, until it holds ``limit``.

    Returns how many documents the query streamed and the first of them.
    """
    dirs = [d != reverse for d in plan.dirs]
    cursor = db[plan.rtype].find(mongo_filter).sort(plan.mongo_sort(reverse))
    cursor = cursor.batch_size(min(max(limit, 10), 1000) if plan.exact else 500)
    streamed, first = 0, None
    try:
        async for doc in cursor:
            streamed += 1
            if first is None:
                first = doc
            if bound is not None and not _after(_sort_key(doc, plan.sort), bound, dirs):
                continue
            if plan.matches(doc):
                out.append(doc)
                if len(out) >= limit:
                    break
    finally:
        await cursor.close()
    return streamed, first


async def _count(db, plan: Plan) -> int:
    if plan.empty:
        return 0
    if plan.exact:
        return await db[plan.rtype].count_documents(plan.filter)
    n = 0
    async for doc in db[plan.rtype].find(plan.filter).batch_size(1000):
        if plan.matches(doc):
            n += 1
    return n
