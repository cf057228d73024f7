"""Parse a FHIR search request into a :class:`Query` (FHIR R4 search.html).

Result parameters (search.html#return): ``_count``, ``_sort``, ``_include``,
``_revinclude`` (with ``:iterate``), ``_summary``, ``_elements``, ``_total``
and our opaque keyset ``_cursor``.  Every other parameter is a filter
(:mod:`.clauses`); chained parameters (search.html#chaining, one level) are
kept as :class:`Chain` and resolved by the executor with an indexed query.
Unknown parameters are collected for the OperationOutcome, or rejected with
400 under ``Prefer: handling=strict`` (search.html#errors).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .clauses import Clause, bad, compile_clause, split_or
from .composite import composite_clause, composite_for
from .definitions import SEARCH_PARAMS, SearchParam, get_param, params_for
from .extract import SORTABLE_TYPES
from .has import ReverseChain, reverse_chain
from .terminology import MODIFIERS as TERMINOLOGY_MODIFIERS
from .terminology import TerminologyFilter, terminology_filter

DEFAULT_COUNT = 20
MAX_COUNT = 1000
#: Accepted and ignored without a word: formatting, and fhirpy's ``count()``.
QUIET = frozenset({"_format", "_pretty", "_totalMethod"})
RESULT_PARAMS = frozenset({"_count", "_sort", "_include", "_revinclude", "_summary", "_elements", "_total",
                           "_cursor", "_type", "_contained", "_containedType"})
#: Types tried for a chain whose reference parameter names no target type.
CHAIN_CANDIDATES = ("Patient", "Practitioner", "Organization", "Location", "Encounter", "Group", "Device",
                    "RelatedPerson", "PractitionerRole", "Medication")


@dataclass
class Chain:
    """``ref[:Type].param[:mod]=value``: resolved by a first query on ``types``."""

    label: str
    ref: SearchParam
    types: tuple[str, ...]
    param: str
    modifier: str | None
    value: str


@dataclass
class Include:
    """``_include``/``_revinclude`` ``Source:param[:Target]`` (``param`` may be ``*``)."""

    source: str
    param: str
    target: str | None
    iterate: bool


@dataclass
class Query:
    """A parsed search request for one or more resource types."""

    types: list[str]
    clauses: list[Clause] = field(default_factory=list)
    chains: list[Chain | ReverseChain | TerminologyFilter] = field(default_factory=list)
    sort: list[tuple[str, bool]] = field(default_factory=list)  #: (param, descending)
    count: int = DEFAULT_COUNT
    includes: list[Include] = field(default_factory=list)
    revincludes: list[Include] = field(default_factory=list)
    summary: str | None = None
    elements: list[str] | None = None
    total: str | None = None
    cursor: str | None = None
    unknown: list[str] = field(default_factory=list)
    echo: list[tuple[str, str]] = field(default_factory=list)  #: params for self/next links


def _int(name: str, v: str) -> int:
    try:
        n = int(v)
    except ValueError:
        raise bad(name, f"'{v}' is not an integer") from None
    if n < 0:
        raise bad(name, "must not be negative")
    return n


def _include(name: str, v: str, iterate: bool) -> Include:
    parts = v.split(":")
    if v == "*":
        return Include("*", "*", None, iterate)
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise bad(name, f"'{v}' is not Type:param[:Target]")
    src, param = parts[0], parts[1]
    if src not in SEARCH_PARAMS and src != "*":
        raise bad(name, f"unknown resource type {src}")
    if param != "*":
        sp = get_param(src, param)
        if sp is None or sp.type != "reference":
            raise bad(name, f"{src} has no reference parameter {param}")
    return Include(src, param, parts[2] if len(parts) == 3 else None, iterate)


def parse(resource_types: list[str], params: list[tuple[str, str]], *, base_url: str, strict: bool) -> Query:
    """Parse request parameters for a search on ``resource_types``."""
    q = Query(types=list(resource_types))
    for key, value in params:
        name, _, modifier = key.partition(":")
        if name in QUIET:
            continue
        if name != "_cursor":
            q.echo.append((key, value))
        if name == "_count":
            q.count = min(_int(key, value), MAX_COUNT)
        elif name == "_sort":
            for item in value.split(","):
                item = item.strip()
                desc = item.startswith("-")
                pname = item[1:] if desc else item
                if pname in ("_id", "_lastUpdated"):
                    q.sort.append((pname, desc))
                    continue
                sps = [params_for(t).get(pname) for t in q.types] or [None]
                if any(sp is None or sp.type not in SORTABLE_TYPES for sp in sps):
                    raise bad("_sort", f"cannot sort by '{pname}'")
                q.sort.append((pname, desc))
        elif name == "_include":
            q.includes.append(_include(key, value, modifier == "iterate"))
        elif name == "_revinclude":
            q.revincludes.append(_include(key, value, modifier == "iterate"))
        elif name == "_summary":
            if value not in ("true", "false", "count", "text", "data"):
                raise bad(key, f"'{value}' is not true, false, count, text or data")
            q.summary = value
        elif name == "_elements":
            q.elements = [e.strip() for e in value.split(",") if e.strip()]
        elif name == "_total":
            if value not in ("none", "estimate", "accurate"):
                raise bad(key, f"'{value}' is not none, estimate or accurate")
            q.total = value
        elif name == "_cursor":
            q.cursor = value
        elif name in ("_type", "_contained", "_containedType"):
            continue  # _type handled by the caller
        else:
            _filter(q, key, name, modifier, value, base_url, strict)
    return q


def _filter(q: Query, key: str, name: str, modifier: str, value: str, base_url: str, strict: bool) -> None:
    mod = modifier or None
    if "." in name:  # chain: subject.name or subject:Patient.name
        head, chained = name.split(".", 1)
        if "." in (mod or ""):
            raise bad(key, "only one level of chaining is supported")
        _chain(q, key, head, mod, chained, value, strict)
        return
    if mod and "." in mod:  # subject:Patient.name=…
        type_mod, chained = mod.split(".", 1)
        cmod = None
        if ":" in chained:
            chained, cmod = chained.split(":", 1)
        _chain(q, key, name, type_mod, chained + (":" + cmod if cmod else ""), value, strict)
        return
    if name == "_has":
        q.chains.append(reverse_chain(q.types, key, modifier, value))
        return
    composite = composite_for(q.types[0], name) if len(q.types) == 1 else None
    if composite is not None:
        q.clauses.append(composite_clause(q.types[0], composite, mod, value, base_url, key))
        return
    sps = [params_for(t).get(name) for t in q.types]
    if not sps or any(sp is None for sp in sps):
        if strict:
            raise bad(key, f"unknown search parameter '{name}' for {', '.join(q.types) or 'this search'}")
        q.unknown.append(key)
        return
    # With several types (_type), the parameter must mean the same everywhere.
    per_type = {sp.type for sp in sps if sp}
    if len(per_type) > 1:
        raise bad(key, "parameter has different types across the searched resource types")
    sp = sps[0]
    assert sp is not None
    if sp.type == "reference" and mod and mod[0].isupper() and mod not in SEARCH_PARAMS:
        raise bad(key, f"unknown resource type {mod}")
    if sp.type == "token" and mod in TERMINOLOGY_MODIFIERS:
        q.chains.append(terminology_filter(sp, mod, value, key))  # needs the server's ValueSets: resolved later
        return
    q.clauses.append(compile_clause(sp, mod, value, base_url, key))


def _chain(q: Query, key: str, head: str, type_mod: str | None, chained: str, value: str, strict: bool) -> None:
    if len(q.types) != 1:
        raise bad(key, "chained parameters need a single resource type")
    ref = get_param(q.types[0], head)
    if ref is None or ref.type != "reference":
        if strict:
            raise bad(key, f"unknown reference parameter '{head}'")
        q.unknown.append(key)
        return
    cparam, _, cmod = chained.partition(":")
    if type_mod:
        types: tuple[str, ...] = (type_mod,)
    elif ref.targets:
        types = tuple(sorted(ref.targets))
    else:
        types = CHAIN_CANDIDATES
    types = tuple(t for t in types if get_param(t, cparam) is not None)
    if not types:
        raise bad(key, f"no target type of {head} has a search parameter '{cparam}'")
    if not split_or(value):
        raise bad(key, "empty value")
    q.chains.append(Chain(key, ref, types, cparam, cmod or None, value))
