"""Run a parsed search against MongoDB and build the searchset Bundle.

FHIR R4 search.html (#return, #paging, #include, #revinclude, #summary,
#elements, #total, #errors) on the write-time index of :mod:`.extract`.

The work is split along its seams: :mod:`.plan` (why one driving predicate,
the keyset bound, the residual check, running a plan), :mod:`.paging` (the
keyset ``_cursor``), :mod:`.includes` (chains, ``_include``/``_revinclude``)
and :mod:`.shaping` (``_summary``/``_elements``, entries, links).  This module
holds the :func:`search` entry point that puts them together.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from ..errors import FhirError
from . import includes
from .clauses import bad, split_or
from .compartment import PATIENT_COMPARTMENT
from .definitions import SEARCH_PARAMS
from .includes import CHAIN_LIMIT as CHAIN_LIMIT
from .includes import ITERATE_ROUNDS as ITERATE_ROUNDS
from .includes import _includes, _resolve_chain
from .paging import _decode_cursor, _encode_cursor, _sort_key
from .plan import Plan, _count, _run
from .query import parse
from .scope import SearchScope
from .shaping import SUBSETTED as SUBSETTED
from .shaping import _entry, _link, matches, next_cursor


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
    issues = [{"severity": "warning", "code": "not-supported",
               "diagnostics": f"Unknown or unsupported search parameter {k} was ignored", "expression": [k]}
              for k in q.unknown]
    if page and (q.includes or q.revincludes):
        included, truncated = await _includes(db, q, page, scope, base_url)
        entries += [_entry(t, d, "include", q, base_url) for t, d in included]
        if truncated:
            issues.append({"severity": "warning", "code": "incomplete", "diagnostics": (
                f"Some resources to include were left out: at most {includes.INCLUDE_LIMIT} are included "
                "per _include or _revinclude. Ask for fewer matches per page (_count) to get them all.")})
    if issues:
        entries.append({"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": {
            "resourceType": "OperationOutcome", "issue": issues}, "search": {"mode": "outcome"}})
    if entries:
        bundle["entry"] = entries
    return bundle


__all__ = ["Plan", "plan_for", "search"]


def plan_for(resource_type: str, params: list[tuple[str, str]], *, base_url: str, scope: SearchScope,
             compartment: tuple[str, str] | None = None) -> Plan:
    """The plan of a single-type search without chains (for ``explain`` in tests and benchmarks)."""
    q = parse([resource_type], params, base_url=base_url.rstrip("/"), strict=False)
    return Plan(resource_type, q, q.clauses, scope, compartment, base_url.rstrip("/"))


async def every_page(db, resource_type: str, params: list[tuple[str, str]], *, base_url: str, scope: SearchScope,
                     page_size: int, compartment: tuple[str, str] | None = None) -> AsyncIterator[list[dict]]:
    """Each page's matches in turn, following the keyset cursor: for code that needs every match
    (an export, a record being sent, a patient's messages) under the caller's scope."""
    cursor: str | None = None
    while True:
        page = [*params, ("_count", str(page_size))] + ([("_cursor", cursor)] if cursor else [])
        bundle = await search(db, resource_type, page, base_url=base_url, scope=scope, compartment=compartment)
        yield matches(bundle)
        cursor = next_cursor(bundle)
        if cursor is None:
            return
