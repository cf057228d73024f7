"""Composite search parameters (https://hl7.org/fhir/R4/search.html#composite) of FHIR R4.

``code-value-quantity=http://loinc.org|8480-6$gt140``: the code AND the value of the SAME
element. The token part drives the query through the write-time token index of the
composite's own token parameter (``code``, ``combo-code``, ``component-code``); the pairing,
which the flat index loses, is checked in the query's residue on the stored resource: each
element (the Observation itself, each component) is indexed on its own, as a small
Observation holding only that element's code and value, and both parts' ordinary clauses
(token, quantity, date, string semantics and all) must match the same one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .clause_base import Clause, bad, split_or
from .clauses import compile_clause
from .definitions import get_param
from .extract import index_resource


@dataclass(frozen=True)
class Composite:
    driver: str  # the token parameter whose index drives the query
    parts: tuple[str, str]  # the Observation parameters each element must match together
    root: bool  # the Observation's own code and value is one element
    components: bool  # each component is one element


def _observation(driver: str, value: str, root: bool, components: bool) -> Composite:
    return Composite(driver, ("code", value), root, components)


# Observation's composites in R4 (observation.html#search); the parts' names are Observation's own
# parameters on the element's code and value.
COMPOSITES: dict[str, dict[str, Composite]] = {"Observation": {
    "code-value-concept": _observation("code", "value-concept", True, False),
    "code-value-date": _observation("code", "value-date", True, False),
    "code-value-quantity": _observation("code", "value-quantity", True, False),
    "code-value-string": _observation("code", "value-string", True, False),
    "combo-code-value-concept": _observation("combo-code", "value-concept", True, True),
    "combo-code-value-quantity": _observation("combo-code", "value-quantity", True, True),
    "component-code-value-concept": _observation("component-code", "value-concept", False, True),
    "component-code-value-quantity": _observation("component-code", "value-quantity", False, True),
}}

VALUE_KEYS = ("valueQuantity", "valueCodeableConcept", "valueString", "valueBoolean", "valueInteger", "valueRange",
              "valueRatio", "valueSampledData", "valueTime", "valueDateTime", "valuePeriod")


def composite_for(resource_type: str, name: str) -> Composite | None:
    return COMPOSITES.get(resource_type, {}).get(name)


def composite_clause(resource_type: str, composite: Composite, modifier: str | None, raw: str,
                     base_url: str, label: str) -> Clause:
    """One clause for ``name=token$value[,token$value…]`` (OR over the comma-separated pairs)."""
    if modifier is not None:
        raise bad(label, f"composite parameters take no modifier (:{modifier})")
    pairs = []
    for value in split_or(raw):
        token, mark, second = value.partition("$")
        if not mark or not token or not second:
            raise bad(label, f"'{value}' is not a composite value (code$value)")
        code_sp, value_sp = (get_param(resource_type, p) for p in composite.parts)
        assert code_sp is not None and value_sp is not None
        pairs.append((compile_clause(code_sp, None, token, base_url, label),
                      compile_clause(value_sp, None, second, base_url, label),
                      compile_clause(get_param(resource_type, composite.driver), None, token, base_url, label)))  # type: ignore[arg-type]

    def match(doc: dict) -> bool:
        elements = _elements(doc.get("res") or {}, composite)
        return any(code.match(e) and value.match(e) for code, value, _ in pairs for e in elements)

    drivers = [driver for _, _, driver in pairs]
    if len(drivers) == 1 and drivers[0].field:
        return Clause(label, match, drivers[0].field, drivers[0].cond, drivers[0].rank, False)
    entries: set[str] = set()
    for driver in drivers:  # several pairs: one $in over their exact token entries, when all have them
        if driver.field != "idx.tok" or not (isinstance(driver.cond, str) or set(driver.cond) == {"$in"}):
            return Clause(label, match)
        entries.update([driver.cond] if isinstance(driver.cond, str) else driver.cond["$in"])
    return Clause(label, match, "idx.tok", {"$in": sorted(entries)}, drivers[0].rank, False)


def _elements(resource: dict[str, Any], composite: Composite) -> list[dict[str, Any]]:
    """Each element as the ``idx`` of a small Observation holding only its code and value."""
    parts: list[dict[str, Any]] = []
    if composite.root:
        parts.append(resource)
    if composite.components:
        parts += [c for c in resource.get("component") or [] if isinstance(c, dict)]
    docs = []
    for part in parts:
        single = {"resourceType": "Observation", "code": part.get("code") or {},
                  **{k: part[k] for k in VALUE_KEYS if k in part}}
        docs.append({"idx": index_resource(single)})
    return docs
