"""Write-time search index: ``index_resource(resource) -> idx``.

FHIR R4 search (https://hl7.org/fhir/R4/search.html) is evaluated against the
values of each parameter's FHIRPath expression.  Instead of evaluating those
expressions per search, they are evaluated once per write with a small,
precompiled dotted-path walker (see :mod:`.definitions`) and stored as flat,
multikey string arrays in the ``idx`` subdocument, one array per parameter
*kind*, every entry prefixed ``<param>\\x1f``:

``tok``  token entries (search.html#token): ``c:<code>``, ``s:<system>|<code>``
         (``s:|<code>`` when there is no system), ``S:<system>``,
         ``t:<normalised text/display>``, ``o:<type system>|<type code>|<value>``
         (identifier ``:of-type``).
``ref``  references (search.html#reference): ``<Type>/<id>`` (ours, relative),
         ``=<id>`` (bare id search), ``<absolute url>`` (foreign),
         ``|c:``/``|s:``/``|S:`` entries of ``Reference.identifier`` (``:identifier``).
``str``  normalised strings (search.html#string); ``sx`` the exact strings.
``dlo``/``dhi``  lower/upper bounds of every date value (search.html#date), as
         aligned arrays: ``dlo[i]`` and ``dhi[i]`` belong to the same value.
``num``/``qu``  numbers/quantities (order-preserving hex) and, aligned, the
         ``system|code|unit`` of each quantity (search.html#quantity).
``uri``  uris (search.html#uri).  ``has`` names of parameters with a value
         (``:missing``).  ``srt`` ``{param: sort key}`` for ``_sort``; every
         sortable parameter of the type is present ("" when missing) so that
         keyset paging bounds are plain ranges.

Only one field per predicate means the embedded database can use one index
per query (see :mod:`.execute`).  ``_id`` and ``_lastUpdated`` live in the
stored document's ``_id`` and ``lu``.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pymongo
from pymongo import IndexModel

from .definitions import SPECIAL_STORED, SearchParam, params_for
from .encoding import SEP, date_range, norm, num_key

Seg = tuple[str, str | None, str | None]

SORTABLE_TYPES = frozenset({"token", "date", "string", "number", "quantity"})

#: Types the portal lists per patient, sorted by one date parameter, and that
#: therefore get a (comp, idx.srt.<param>, _id) compound index.
PORTAL_SORTS: dict[str, str] = {
    "Observation": "date",
    "DocumentReference": "date",
    "DiagnosticReport": "date",
    "Communication": "sent",
    "AuditEvent": "date",  # a patient's access trail, newest first
}

#: (leading field, sort parameter) of every compound index (lead, idx.srt.<param>, _id) per type:
#: a page sorted on <param> for one value of <lead> is read in date windows (see :mod:`.windows`).
SORT_COMPOUNDS: dict[str, tuple[tuple[str, str], ...]] = {
    rtype: (("comp", param),) for rtype, param in PORTAL_SORTS.items()
}
SORT_COMPOUNDS["AuditEvent"] += (("idx.ref", "date"),)  # an agent's trail by time

INDEX_FIELDS = ("tok", "ref", "str", "sx", "dlo", "dhi", "num", "uri", "has")


def compile_path(path: str) -> tuple[Seg, ...]:
    """Turn ``telecom[system=email].value`` into walker segments."""
    segs: list[Seg] = []
    for part in path.split("."):
        if "[" in part:
            name, cond = part[:-1].split("[", 1)
            key, val = cond.split("=", 1)
            segs.append((name, key, val))
        else:
            segs.append((part, None, None))
    return tuple(segs)


def walk(node: dict, segs: tuple[Seg, ...]) -> list[Any]:
    """Collect the values at a compiled path; arrays are traversed transparently."""
    cur: list[Any] = [node]
    for name, fkey, fval in segs:
        nxt: list[Any] = []
        for n in cur:
            if type(n) is not dict:
                continue
            v = n.get(name)
            if v is None:
                continue
            if type(v) is list:
                if fkey is None:
                    nxt.extend(v)
                else:
                    nxt.extend(x for x in v if type(x) is dict and x.get(fkey) == fval)
            elif fkey is None or (type(v) is dict and v.get(fkey) == fval):
                nxt.append(v)
        if not nxt:
            return nxt
        cur = nxt
    return cur


@cache
def _plan(resource_type: str) -> tuple[tuple[SearchParam, tuple[tuple[Seg, ...], ...]], ...]:
    return tuple(
        (p, tuple(compile_path(x) for x in p.paths))
        for p in params_for(resource_type).values()
        if p.name not in SPECIAL_STORED and p.type != "special"
    )


@cache
def _srt_template(resource_type: str) -> dict[str, str]:
    return {p.name: "" for p, _ in _plan(resource_type) if p.type in SORTABLE_TYPES}


def _ref_target(ref: str, base_url: str | None) -> str | None:
    """Normalise a literal reference to ``Type/id`` (ours) or the absolute URL (foreign)."""
    if base_url and ref.startswith(base_url):
        ref = ref[len(base_url):].lstrip("/")
    if "/_history/" in ref:
        ref = ref.split("/_history/", 1)[0]
    return ref


def _token_entries(p: str, v: Any, out: list[str]) -> str | None:
    """Append token entries of one value; return its sort key (first code)."""
    pre = p + SEP
    if type(v) is str:
        out.append(pre + "c:" + v)
        out.append(pre + "s:|" + v)
        return v
    if type(v) is bool:
        s = "true" if v else "false"
        out.append(pre + "c:" + s)
        return s
    if type(v) is not dict:
        return None
    first: str | None = None
    codings = v.get("coding")
    if codings is not None:  # CodeableConcept
        for c in codings:
            if type(c) is dict:
                code = _coding(pre, c, out)
                if first is None:
                    first = code
        text = v.get("text")
        if text:
            out.append(pre + "t:" + norm(text))
        return first
    if "value" in v and ("system" in v or "type" in v or "use" in v or "assigner" in v or len(v) == 1):
        value = v.get("value")
        if not isinstance(value, str):
            return None
        system = v.get("system")
        if system in ("phone", "email", "fax", "pager", "url", "sms", "other"):  # ContactPoint
            out.append(pre + "c:" + value)
            return value
        out.append(pre + "c:" + value)
        out.append(pre + "s:" + (system or "") + "|" + value)
        if system:
            out.append(pre + "S:" + system)
        typ = v.get("type")
        if typ:
            for tc in typ.get("coding") or ():
                out.append(pre + "o:" + (tc.get("system") or "") + "|" + (tc.get("code") or "") + "|" + value)
            if typ.get("text"):
                out.append(pre + "t:" + norm(typ["text"]))
        return value
    if "code" in v or "system" in v:  # Coding
        return _coding(pre, v, out)
    return None


def _coding(pre: str, c: dict, out: list[str]) -> str | None:
    code = c.get("code")
    system = c.get("system")
    if code is not None:
        out.append(pre + "c:" + code)
        out.append(pre + "s:" + (system or "") + "|" + code)
    if system:
        out.append(pre + "S:" + system)
    disp = c.get("display")
    if disp:
        out.append(pre + "t:" + norm(disp))
    return code


_NAME_PARTS = ("family", "given", "prefix", "suffix", "text")
_ADDR_PARTS = ("line", "city", "district", "state", "postalCode", "country", "text")


def _strings(v: Any) -> list[str]:
    if type(v) is str:
        return [v]
    if type(v) is not dict:
        return []
    out: list[str] = []
    parts = _NAME_PARTS if ("family" in v or "given" in v) else _ADDR_PARTS
    for k in parts:
        x = v.get(k)
        if type(x) is str:
            out.append(x)
        elif type(x) is list:
            out.extend(s for s in x if type(s) is str)
    if not out and type(v.get("text")) is str:
        out.append(v["text"])
    return out


def index_resource(resource: dict, base_url: str | None = None) -> dict:
    """Compute the ``idx`` subdocument of a resource (see the module docstring).

    ``base_url`` (e.g. ``http://host/fhir``): absolute references on it are
    stored as relative ``Type/id`` references.
    """
    rtype = resource.get("resourceType", "")
    tok: list[str] = []
    ref: list[str] = []
    strs: list[str] = []
    sx: list[str] = []
    dlo: list[str] = []
    dhi: list[str] = []
    num: list[str] = []
    qu: list[str] = []
    uri: list[str] = []
    has: list[str] = []
    srt = dict(_srt_template(rtype))
    for p, paths in _plan(rtype):
        values: list[Any] = []
        for segs in paths:
            values.extend(walk(resource, segs))
        if not values:
            continue
        name = p.name
        pre = name + SEP
        t = p.type
        key: str | None = None
        if t == "token":
            n0 = len(tok)
            for v in values:
                k = _token_entries(name, v, tok)
                if key is None:
                    key = k
            if len(tok) == n0:
                continue
        elif t == "reference":
            n0 = len(ref)
            targets = p.targets
            for v in values:
                if type(v) is str:  # canonical
                    ref.append(pre + v)
                    key = key or v
                    continue
                if type(v) is not dict:
                    continue
                r = v.get("reference")
                if r:
                    r = _ref_target(r, base_url)
                    slash = r.rfind("/")
                    if slash > 0 and "://" not in r:
                        rt = r[:slash]
                        if targets and rt not in targets:
                            continue
                        ref.append(pre + r)
                        ref.append(pre + "=" + r[slash + 1:])
                    elif targets and not any(f"/{x}/" in r for x in targets):
                        continue
                    else:
                        ref.append(pre + r)
                    key = key or r
                ident = v.get("identifier")
                if type(ident) is dict and (not targets or v.get("type") in targets):
                    val = ident.get("value")
                    if isinstance(val, str):
                        sys_ = ident.get("system") or ""
                        ref.append(pre + "|c:" + val)
                        ref.append(pre + "|s:" + sys_ + "|" + val)
                        if sys_:
                            ref.append(pre + "|S:" + sys_)
            if len(ref) == n0:
                continue
        elif t == "date":
            n0 = len(dlo)
            for v in values:
                if type(v) is str:
                    rng = date_range(v)
                    if rng:
                        dlo.append(pre + rng[0])
                        dhi.append(pre + rng[1])
                elif type(v) is dict:  # Period
                    s, e = v.get("start"), v.get("end")
                    lo = date_range(s)[0] if s and date_range(s) else "0000-01-01T00:00:00.000Z"
                    hi = date_range(e)[1] if e and date_range(e) else "9999-12-31T23:59:59.999Z"
                    if s or e:
                        dlo.append(pre + lo)
                        dhi.append(pre + hi)
            if len(dlo) == n0:
                continue
            key = dlo[n0][len(pre):]
        elif t == "string":
            n0 = len(strs)
            for v in values:
                for s in _strings(v):
                    strs.append(pre + norm(s))
                    sx.append(pre + s)
            if len(strs) == n0:
                continue
            key = strs[n0][len(pre):]
        elif t in ("quantity", "number"):
            n0 = len(num)
            for v in values:
                if type(v) is dict:
                    val = v.get("value")
                    if isinstance(val, (int, float)) and type(val) is not bool:
                        num.append(pre + num_key(val))
                        qu.append((v.get("system") or "") + "|" + (v.get("code") or "") + "|" + (v.get("unit") or ""))
                elif isinstance(v, (int, float)) and type(v) is not bool:
                    num.append(pre + num_key(v))
                    qu.append("||")
            if len(num) == n0:
                continue
            key = num[n0][len(pre):]
        elif t == "uri":
            n0 = len(uri)
            for v in values:
                if type(v) is str:
                    uri.append(pre + v)
            if len(uri) == n0:
                continue
            key = uri[n0][len(pre):]
        has.append(name)
        if key is not None and name in srt:
            srt[name] = key
    idx: dict[str, Any] = {"has": has, "srt": srt}
    for k, lst in (("tok", tok), ("ref", ref), ("str", strs), ("sx", sx), ("uri", uri)):
        if lst:
            idx[k] = list(dict.fromkeys(lst))  # dedupe, keep order
    for k, lst in (("dlo", dlo), ("dhi", dhi), ("num", num), ("qu", qu)):
        if lst:
            idx[k] = lst  # aligned pairs: never dedupe one side alone
    return idx


#: Types whose collection holds only the indexes of the queries they have, and the fields a
#: search on them may send to MongoDB (other clauses are checked in Python on what those find).
#: The audit trail grows by one event per access and is kept for years: each generic multikey
#: index would cost every request an index write into an ever larger B-tree, for searches
#: nobody runs. A patient's trail (comp), an agent's or an entity's (idx.ref, the leading
#: field of ref_srt_date_id), by id and by _lastUpdated (lu) stay indexed.
DRIVING_FIELDS: dict[str, frozenset[str]] = {
    "AuditEvent": frozenset({"_id", "comp", "idx.ref", "lu"}),
}


#: What the stored ``idx`` of a :data:`DRIVING_FIELDS` type keeps: the keys its indexes and sorts
#: read. The rest of its search keys (an AuditEvent's tokens, dates and ``:missing`` names, half
#: of its ``idx``) would be written with every event and read by no index; a search that checks
#: a clause on them in Python computes them from the resource instead (:func:`with_every_key`).
STORED_KINDS = ("ref", "srt")


def stored_index(resource: dict, base_url: str | None = None) -> dict:
    """The ``idx`` subdocument as stored: all of it, or for the types of :data:`DRIVING_FIELDS`
    only :data:`STORED_KINDS`."""
    idx = index_resource(resource, base_url)
    if resource.get("resourceType") not in DRIVING_FIELDS:
        return idx
    return {k: idx[k] for k in STORED_KINDS if k in idx}


def with_every_key(doc: dict, base_url: str | None) -> dict:
    """``doc`` with its whole ``idx``, for the clauses a search checks in Python: a type of
    :data:`DRIVING_FIELDS` has its keys computed from the resource (it stores only some)."""
    if doc.get("res", {}).get("resourceType") in DRIVING_FIELDS:
        doc["idx"] = index_resource(doc["res"], base_url)
    return doc


def index_models(resource_type: str) -> list[IndexModel]:
    """The MongoDB indexes a type's collection needs for search (called at start-up).

    One single-field multikey index per ``idx`` array (each search predicate
    is one field), (comp, _id) for compartment searches, (lu, _id) for
    ``_lastUpdated`` and history-like listing, and (comp, idx.srt.<date>, _id)
    for the per-patient lists the portal shows; for the types of
    :data:`DRIVING_FIELDS`, only what their driving fields need.
    """
    asc = pymongo.ASCENDING
    models = [
        IndexModel([("comp", asc), ("_id", asc)], name="comp_id"),
        IndexModel([("lu", asc), ("_id", asc)], name="lu_id"),
    ]
    if resource_type not in DRIVING_FIELDS:
        models += [IndexModel([(f"idx.{f}", asc)], name=f"idx_{f}") for f in INDEX_FIELDS]
    sp = PORTAL_SORTS.get(resource_type)
    if sp:
        models.append(IndexModel([("comp", asc), (f"idx.srt.{sp}", asc), ("_id", asc)], name=f"comp_srt_{sp}_id"))
    if resource_type == "AuditEvent":
        # Who accessed what, by time: ``agent=`` (a reference, in the multikey ``idx.ref``) with
        # ``_sort=-date``; its prefix serves every reference search. One array field per
        # compound index, as MongoDB requires.
        models.append(IndexModel([("idx.ref", asc), ("idx.srt.date", asc), ("_id", asc)], name="ref_srt_date_id"))
    return models


def retired_indexes(resource_type: str) -> list[str]:
    """Indexes an earlier version created on the type that its queries no longer need."""
    if resource_type not in DRIVING_FIELDS:
        return []
    return [f"idx_{f}" for f in INDEX_FIELDS]
