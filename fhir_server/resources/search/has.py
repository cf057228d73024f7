"""Reverse chaining, ``_has`` (https://hl7.org/fhir/R4/search.html#has):
``Patient?_has:Observation:patient:code=718-7`` selects the Patients that an Observation
with that code references through its ``patient`` parameter.

Resolved like a forward chain, before the page: one indexed query on the referring type
(its own clause drives it, under the caller's scope, so a reference from a resource the
caller cannot see selects nothing), whose matches' indexed references give the ids; the
search itself is then driven by ``_id``. One level only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import FhirError
from .clause_base import RANK_ID, Clause, bad, split_or
from .definitions import SEARCH_PARAMS, get_param


@dataclass
class ReverseChain:
    """``_has:Type:ref:param[:mod]=value`` on a search of ``target``."""

    label: str
    target: str
    source: str
    ref: str
    param: str
    modifier: str | None
    value: str


def reverse_chain(types: list[str], key: str, modifier: str, value: str) -> ReverseChain:
    """Parse one ``_has`` parameter (400 with the parameter's name when it cannot be run)."""
    if len(types) != 1:
        raise bad(key, "_has needs a single resource type")
    source, _, rest = modifier.partition(":")
    ref, _, rest = rest.partition(":")
    param, _, param_modifier = rest.partition(":")
    if not source or not ref or not param:
        raise bad(key, "expected _has:Type:reference:parameter")
    if param == "_has" or param_modifier.startswith("_has"):
        raise FhirError(400, "not-supported", f"{key}: only one level of _has is supported", [key])
    if source not in SEARCH_PARAMS:
        raise bad(key, f"unknown resource type {source}")
    reference = get_param(source, ref)
    if reference is None or reference.type != "reference":
        raise bad(key, f"{source} has no reference parameter {ref}")
    if reference.targets and types[0] not in reference.targets:
        raise bad(key, f"{source}.{ref} never references a {types[0]}")
    if get_param(source, param) is None:
        raise bad(key, f"{source} has no search parameter {param}")
    if not split_or(value):
        raise bad(key, "empty value")
    return ReverseChain(key, types[0], source, ref, param, param_modifier or None, value)


async def resolve_reverse(db: Any, chain: ReverseChain, scope: Any, base_url: str) -> Clause:
    """The ``_id`` clause of the targets the matching referrers name."""
    from .clauses import compile_clause
    from .includes import CHAIN_LIMIT
    from .plan import Plan, _run
    from .query import Query

    if not scope.type_allowed(chain.source):
        return _nothing(chain.label)
    sp = get_param(chain.source, chain.param)
    assert sp is not None
    sub = Query(types=[chain.source], clauses=[compile_clause(sp, chain.modifier, chain.value, base_url, chain.label)])
    docs = await _run(db, Plan(chain.source, sub, sub.clauses, scope, None, base_url), CHAIN_LIMIT + 1, None, False)
    if len(docs) > CHAIN_LIMIT:
        raise FhirError(400, "too-costly", f"{chain.label} matches too many {chain.source} resources", [chain.label])
    head = f"{chain.ref}\x1f{chain.target}/"
    ids = sorted({r[len(head):] for d in docs for r in d.get("idx", {}).get("ref", ()) if r.startswith(head)})
    if not ids:
        return _nothing(chain.label)
    wanted = frozenset(ids)
    return Clause(chain.label, lambda doc: doc["_id"] in wanted, "_id", {"$in": ids}, RANK_ID, True)


def _nothing(label: str) -> Clause:
    return Clause(label, lambda doc: False, "_id", {"$in": []}, RANK_ID, True)
