"""Run a parsed search against MongoDB and build the searchset Bundle.

FHIR R4 search.html (#return, #paging, #include, #revinclude, #summary,
#elements, #total, #errors) on the write-time index of :mod:`.extract`.

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

Paging is keyset: the ``_cursor`` of a next/previous link carries the sort key
and ``_id`` of the page's last/first entry, so writes between pages cause no
duplicates and no gaps.  A sort value that is missing sorts as "" (first when
ascending, last when descending).
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from ..errors import FhirError
from .clauses import RANK_COMP, Clause, _lu_key, bad, compile_clause, split_or
from .compartment import PATIENT_COMPARTMENT
from .definitions import SEARCH_PARAMS, get_param, params_for
from .encoding import HIGH
from .extract import PORTAL_SORTS
from .query import Chain, Include, Query, parse
from .scope import SearchScope

INCLUDE_LIMIT = 1000
CHAIN_LIMIT = 5000
ITERATE_ROUNDS = 3
SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}


# ------------------------------------------------------------------ helpers
def _encode_cursor(rtype: str, keys: list[Any], rid: str, direction: str) -> str:
    raw = json.dumps({"t": rtype, "k": keys, "i": rid, "d": direction}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(value: str) -> dict:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        cur = json.loads(raw)
        assert isinstance(cur, dict) and {"t", "k", "i", "d"} <= cur.keys()
        return cur
    except Exception:
        raise bad("_cursor", "not a cursor issued by this server") from None


def _sort_field(param: str) -> str:
    return {"_id": "_id", "_lastUpdated": "lu"}.get(param, f"idx.srt.{param}")


def _sort_key(doc: dict, sort: list[tuple[str, bool]]) -> list[Any]:
    out: list[Any] = []
    for p, _ in sort:
        if p == "_id":
            out.append(doc["_id"])
        elif p == "_lastUpdated":
            out.append(_lu_key(doc["lu"]) if doc.get("lu") else "")
        else:
            out.append(doc.get("idx", {}).get("srt", {}).get(p, "") or "")
    out.append(doc["_id"])
    return out


def _after(key: list[Any], bound: list[Any], dirs: list[bool]) -> bool:
    """Whether ``key`` comes strictly after ``bound`` in the (desc flags) order."""
    for a, b, desc in zip(key, bound, dirs, strict=False):
        if a == b:
            continue
        return (a < b) if desc else (a > b)
    return False


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
        best = min((c for c in clauses if c.field), key=lambda c: c.rank, default=None)
        if best is not None and (self.driver is None or best.rank < RANK_COMP):
            self.filter = {best.field: best.cond}
            self.driver = best.field
            if best.exact:
                self.residual.remove(best)
        # Total is cheap when MongoDB alone decides membership.
        scope_in_driver = (scope.patients is None or (self.driver == "comp" and comp_exact)) and self.groups is None
        self.exact = not self.residual and scope_in_driver
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
            t = datetime.strptime(k, "%Y-%m-%dT%H:%M:%S.%fZ")
            f["lu"] = {"$lt": t + timedelta(milliseconds=1)} if desc else {"$gte": t}
        return f

    def matches(self, doc: dict) -> bool:
        return all(c.match(doc) for c in self.residual) and _visible(doc, self.rtype, self.scope, self.groups)


async def _run(db, plan: Plan, limit: int, bound: list[Any] | None, reverse: bool) -> list[dict]:
    """Stream the driving query and keep up to ``limit`` matching documents after ``bound``."""
    if plan.empty or limit <= 0:
        return []
    dirs = [d != reverse for d in plan.dirs]
    cursor = db[plan.rtype].find(plan.bounded_filter(bound, reverse)).sort(plan.mongo_sort(reverse))
    cursor = cursor.batch_size(min(max(limit, 10), 1000) if plan.exact else 500)
    out: list[dict] = []
    try:
        async for doc in cursor:
            if bound is not None and not _after(_sort_key(doc, plan.sort), bound, dirs):
                continue
            if plan.matches(doc):
                out.append(doc)
                if len(out) >= limit:
                    break
    finally:
        await cursor.close()
    return out


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


# ------------------------------------------------------------------ chains
async def _resolve_chain(db, ch: Chain, scope: SearchScope, base_url: str) -> Clause:
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
                    base_url: str) -> list[tuple[str, dict]]:
    seen = {(t, d["_id"]) for t, d in matches}
    out: list[tuple[str, dict]] = []
    frontier = matches
    groups_cache: dict[str, Any] = {}

    def visible(t: str, d: dict) -> bool:
        if t not in groups_cache:
            groups_cache[t] = _restriction_groups(scope, t, base_url)
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
            async for d in db[rt].find({"_id": {"$in": sorted(ids)}}).limit(INCLUDE_LIMIT):
                if (rt, d["_id"]) not in seen and visible(rt, d):
                    seen.add((rt, d["_id"]))
                    new.append((rt, d))
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
            async for d in db[src].find({"idx.ref": {"$in": entries}}).limit(INCLUDE_LIMIT):
                if (src, d["_id"]) not in seen and visible(src, d):
                    seen.add((src, d["_id"]))
                    new.append((src, d))
        out += new
        frontier = new
    return out


# ------------------------------------------------------------------ shaping
def _subset(res: dict, q: Query) -> dict:
    if q.elements:
        keep = {"resourceType", "id", "meta", *q.elements}
        res = {k: v for k, v in res.items() if k in keep}
    elif q.summary in ("true", "text", "data"):
        if q.summary == "data":
            res = {k: v for k, v in res.items() if k != "text"}
        elif q.summary == "text":
            res = {k: v for k, v in res.items() if k in ("resourceType", "id", "meta", "text", "status")}
        else:
            rtype = res.get("resourceType", "")
            keep = {"resourceType", "id", "meta", "implicitRules", "status", "identifier", "name", "code", "subject",
                    "patient", "category", "effectiveDateTime", "effectivePeriod", "valueQuantity", "intent",
                    "active", "gender", "birthDate", "type", "date", "period", "issued"}
            keep |= {p.split(".")[0].split("[")[0] for sp in params_for(rtype).values() for p in sp.paths}
            keep -= {"text", "contained", "content", "data", "extension", "modifierExtension", "component",
                     "payload", "note"}
            res = {k: v for k, v in res.items() if k in keep}
    else:
        return res
    meta = dict(res.get("meta") or {})
    meta["tag"] = [*meta.get("tag", []), SUBSETTED]
    res["meta"] = meta
    return res


def _entry(rtype: str, doc: dict, mode: str, q: Query, base_url: str) -> dict:
    return {"fullUrl": f"{base_url}/{rtype}/{doc['_id']}", "resource": _subset(doc["res"], q),
            "search": {"mode": mode}}


def _link(path: str, echo: list[tuple[str, str]], cursor: str | None) -> str:
    params = list(echo) + ([("_cursor", cursor)] if cursor else [])
    return f"{path}?{urlencode(params)}" if params else path


# ------------------------------------------------------------------ search
async def search(db, resource_type: str | None, params: list[tuple[str, str]], *, base_url: str,
                 scope: SearchScope, strict: bool = False,
                 compartment: tuple[str, str] | None = None) -> dict:
    """Run a FHIR R4 search and return a searchset Bundle (dict).

    ``resource_type`` None means a system search over ``_type`` (all readable
    types if absent); ``compartment=("Patient", id)`` limits to that
    compartment (``/Patient/{id}/{type}``).  Raises :class:`FhirError` (400)
    for bad values, and for unknown parameters when ``strict``.
    """
    base_url = base_url.rstrip("/")
    if resource_type is not None:
        if resource_type not in SEARCH_PARAMS and not resource_type[:1].isupper():
            raise FhirError(404, "not-supported", f"Unknown resource type {resource_type}")
        if not scope.type_allowed(resource_type):
            raise FhirError(403, "forbidden", f"The access token does not allow reading {resource_type}")
        types = [resource_type]
    else:
        tvals = [t for k, v in params if k == "_type" for t in split_or(v)]
        types = sorted(set(tvals)) if tvals else sorted(SEARCH_PARAMS)
        for t in tvals:
            if t not in SEARCH_PARAMS:
                raise bad("_type", f"unknown resource type {t}")
        types = [t for t in types if scope.type_allowed(t)]
        if not tvals:
            types = [t for t in types if t != "Binary"]
    if compartment is not None and compartment[0] != "Patient":
        raise FhirError(400, "not-supported", f"Compartment {compartment[0]} is not supported")
    if compartment is not None and scope.patients is not None and compartment[1] not in scope.patients:
        raise FhirError(403, "forbidden", f"No access to the compartment of Patient/{compartment[1]}")
    if compartment is not None:
        types = [t for t in types if t in PATIENT_COMPARTMENT]
    q = parse(types, params, base_url=base_url, strict=strict)
    for ch in q.chains:
        q.clauses.append(await _resolve_chain(db, ch, scope, base_url))

    if compartment is not None:
        path = f"{base_url}/Patient/{compartment[1]}/{resource_type}" if resource_type else \
            f"{base_url}/Patient/{compartment[1]}/*"
    else:
        path = f"{base_url}/{resource_type}" if resource_type else base_url
    plans = [Plan(t, q, q.clauses, scope, compartment, base_url) for t in types]

    bundle: dict[str, Any] = {
        "resourceType": "Bundle", "id": str(uuid.uuid4()),
        "meta": {"lastUpdated": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")},
        "type": "searchset",
    }
    count = 0 if q.summary == "count" else q.count
    cur = _decode_cursor(q.cursor) if q.cursor else None
    reverse = bool(cur and cur["d"] == "p")

    # ---- the page
    page: list[tuple[str, dict]] = []
    more = False
    if count > 0:
        order = list(reversed(plans)) if reverse else plans
        started = cur is None
        for plan in order:
            bound = None
            if not started:
                if plan.rtype != cur["t"]:
                    continue
                started, bound = True, [*list(cur["k"]), cur["i"]]
            docs = await _run(db, plan, count + 1 - len(page), bound, reverse)
            page += [(plan.rtype, d) for d in docs]
            if len(page) > count:
                more = True
                page = page[:count]
                break
        if reverse:
            page.reverse()

    # ---- total
    total: int | None = None
    first_page_complete = cur is None and not more and count > 0
    if q.total != "none":
        if first_page_complete:
            total = len(page)
        elif q.total == "accurate" or count == 0 or all(p.exact for p in plans):
            total = sum([await _count(db, p) for p in plans])
    if total is not None:
        bundle["total"] = total

    # ---- links
    links = [{"relation": "self", "url": _link(path, q.echo, q.cursor)}]
    if page:
        last_t, last = page[-1]
        first_t, first = page[0]
        lp = next(p for p in plans if p.rtype == last_t)
        fp = next(p for p in plans if p.rtype == first_t)
        has_next = more if not reverse else True
        has_prev = (cur is not None) if not reverse else more
        if has_next:
            links.append({"relation": "next", "url": _link(path, q.echo, _encode_cursor(
                last_t, _sort_key(last, lp.sort)[:-1], last["_id"], "n"))})
        if has_prev:
            links.append({"relation": "previous", "url": _link(path, q.echo, _encode_cursor(
                first_t, _sort_key(first, fp.sort)[:-1], first["_id"], "p"))})
    bundle["link"] = links

    # ---- entries
    entries = [_entry(t, d, "match", q, base_url) for t, d in page]
    if page and (q.includes or q.revincludes):
        entries += [_entry(t, d, "include", q, base_url) for t, d in await _includes(db, q, page, scope, base_url)]
    if q.unknown:
        entries.append({"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "warning", "code": "not-supported",
                       "diagnostics": f"Unknown or unsupported search parameter {k} was ignored",
                       "expression": [k]} for k in q.unknown]}, "search": {"mode": "outcome"}})
    if entries:
        bundle["entry"] = entries
    return bundle


__all__ = ["Plan", "plan_for", "search"]


def plan_for(resource_type: str, params: list[tuple[str, str]], *, base_url: str, scope: SearchScope,
             compartment: tuple[str, str] | None = None) -> Plan:
    """The plan of a single-type search without chains (for ``explain`` in tests and benchmarks)."""
    q = parse([resource_type], params, base_url=base_url.rstrip("/"), strict=False)
    return Plan(resource_type, q, q.clauses, scope, compartment, base_url.rstrip("/"))
