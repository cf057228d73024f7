"""Token modifiers that need the server's terminology (https://hl7.org/fhir/R4/search.html#token):
``:in`` / ``:not-in`` a ValueSet held on the server (by its canonical ``url``), and
``:below`` / ``:above`` a code in a CodeSystem held on the server whose concepts nest.

Resolved before the page, like a chain: the ValueSet (or CodeSystem) is found by an indexed
query on its ``url``, expanded here (its ``expansion`` when it has one, else its ``compose``:
listed concepts, whole code systems held on the server, ``is-a``/``descendent-of`` filters on
their hierarchy, imported value sets; ``exclude`` removed), and becomes an ordinary token
clause: an indexed ``$in`` over the codes' exact token entries (``:not-in`` its negation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import FhirError
from .clause_base import RANK_TOKEN, Clause, _idx, bad, split_or
from .definitions import SearchParam, get_param
from .encoding import SEP

MODIFIERS = frozenset({"in", "not-in", "above", "below"})
MAX_CODES = 10_000
MAX_DEPTH = 5  # value sets importing value sets


@dataclass
class TerminologyFilter:
    label: str
    param: SearchParam
    modifier: str
    values: list[str]


def terminology_filter(sp: SearchParam, modifier: str, value: str, label: str) -> TerminologyFilter:
    values = split_or(value)
    if not values:
        raise bad(label, "empty value")
    if modifier in ("above", "below"):
        for v in values:
            system, bar, code = v.partition("|")
            if not bar or not system or not code:
                raise bad(label, f":{modifier} needs system|code (the CodeSystem whose hierarchy applies), not '{v}'")
    return TerminologyFilter(label, sp, modifier, values)


async def resolve_terminology(db: Any, tf: TerminologyFilter, scope: Any, base_url: str) -> Clause:
    codes: set[tuple[str, str]] = set()
    finder = _Finder(db, scope, base_url, tf.label)
    for value in tf.values:
        if tf.modifier in ("in", "not-in"):
            value_set = await finder.one("ValueSet", value)
            codes |= await _expand(finder, value_set, 0)
        else:
            system, _, code = value.partition("|")
            code_system = await finder.one("CodeSystem", system)
            tree = _Hierarchy(code_system)
            if code not in tree.parent_of and code not in tree.children:
                raise bad(tf.label, f"{code} is not a code of the CodeSystem {system} held on this server")
            related = tree.below(code) if tf.modifier == "below" else tree.above(code)
            codes |= {(system, c) for c in related}
        if len(codes) > MAX_CODES:
            raise FhirError(400, "too-costly", f"{tf.label}: more than {MAX_CODES} codes", [tf.label])
    pre = tf.param.name + SEP
    entries = sorted(f"{pre}s:{system}|{code}" for system, code in codes)
    wanted = frozenset(entries)

    def match(doc: dict) -> bool:
        return any(t in wanted for t in _idx(doc, "tok"))

    if tf.modifier == "not-in":
        return Clause(tf.label, lambda doc: not match(doc))
    return Clause(tf.label, match, "idx.tok", {"$in": entries}, RANK_TOKEN, True)


class _Finder:
    """Conformance resources by canonical url, one indexed query each, under the caller's scope."""

    def __init__(self, db: Any, scope: Any, base_url: str, label: str) -> None:
        self.db, self.scope, self.base_url, self.label = db, scope, base_url, label

    async def one(self, resource_type: str, canonical: str) -> dict[str, Any]:
        from .clauses import compile_clause
        from .plan import Plan, _run
        from .query import Query

        url, _, version = canonical.partition("|")
        found: list[dict[str, Any]] = []
        if self.scope.type_allowed(resource_type):
            sp = get_param(resource_type, "url")
            assert sp is not None
            sub = Query(types=[resource_type], clauses=[compile_clause(sp, None, url, self.base_url, self.label)])
            docs = await _run(self.db, Plan(resource_type, sub, sub.clauses, self.scope, None, self.base_url),
                              50, None, False)
            found = [d["res"] for d in docs if not version or d["res"].get("version") == version]
        if not found:
            raise bad(self.label, f"no {resource_type} with url {canonical} is held on this server")
        return max(found, key=lambda r: str(r.get("version", "")))


async def _expand(finder: _Finder, value_set: dict[str, Any], depth: int) -> set[tuple[str, str]]:
    if depth > MAX_DEPTH:
        raise bad(finder.label, "value sets import each other too deeply")
    expansion = value_set.get("expansion")
    if isinstance(expansion, dict) and expansion.get("contains"):
        return set(_contains(expansion["contains"]))
    compose = value_set.get("compose") or {}
    codes: set[tuple[str, str]] = set()
    for include in compose.get("include") or []:
        codes |= await _include(finder, include, depth)
    for exclude in compose.get("exclude") or []:
        codes -= await _include(finder, exclude, depth)
    return codes


def _contains(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    out = []
    for item in items:
        if item.get("system") and item.get("code") and not item.get("abstract"):
            out.append((item["system"], item["code"]))
        out += _contains(item.get("contains") or [])
    return out


async def _include(finder: _Finder, include: dict[str, Any], depth: int) -> set[tuple[str, str]]:
    codes: set[tuple[str, str]] | None = None
    system = include.get("system")
    if system:
        if include.get("concept"):
            codes = {(system, c["code"]) for c in include["concept"] if c.get("code")}
        else:
            tree = _Hierarchy(await finder.one("CodeSystem", system))
            codes = {(system, c) for c in tree.all()}
            for rule in include.get("filter") or []:
                codes &= {(system, c) for c in _filtered(tree, rule, finder.label)}
    for canonical in include.get("valueSet") or []:
        imported = await _expand(finder, await finder.one("ValueSet", canonical), depth + 1)
        codes = imported if codes is None else codes & imported
    return codes or set()


def _filtered(tree: _Hierarchy, rule: dict[str, Any], label: str) -> set[str]:
    op, value = rule.get("op"), str(rule.get("value", ""))
    if rule.get("property") == "concept" and op == "is-a":
        return tree.below(value)
    if rule.get("property") == "concept" and op == "descendent-of":
        return tree.below(value) - {value}
    if rule.get("property") == "concept" and op == "is-not-a":
        return tree.all() - tree.below(value)
    raise FhirError(400, "not-supported", f"{label}: the value set's filter {rule.get('property')} {op} "
                    "cannot be expanded on this server", [label])


class _Hierarchy:
    """A CodeSystem's concepts as a tree (nested ``concept``, and the ``parent`` property)."""

    def __init__(self, code_system: dict[str, Any]) -> None:
        self.parent_of: dict[str, set[str]] = {}
        self.children: dict[str, set[str]] = {}
        self._walk(code_system.get("concept") or [], None)

    def _walk(self, concepts: list[dict[str, Any]], parent: str | None) -> None:
        for concept in concepts:
            code = concept.get("code")
            if not isinstance(code, str):
                continue
            self.parent_of.setdefault(code, set())
            self.children.setdefault(code, set())
            parents = {parent} if parent else set()
            parents |= {str(p.get("valueCode")) for p in concept.get("property") or []
                        if p.get("code") in ("parent", "subsumedBy") and p.get("valueCode")}
            for up in parents:
                self.parent_of[code].add(up)
                self.children.setdefault(up, set()).add(code)
            self._walk(concept.get("concept") or [], code)

    def all(self) -> set[str]:
        return set(self.parent_of)

    def below(self, code: str) -> set[str]:
        return self._closure(code, self.children)

    def above(self, code: str) -> set[str]:
        return self._closure(code, self.parent_of)

    @staticmethod
    def _closure(code: str, edges: dict[str, set[str]]) -> set[str]:
        seen, todo = {code}, [code]
        while todo:
            for nxt in edges.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen
