"""Required bindings checked on a resource's JSON (https://hl7.org/fhir/R4/terminologies.html#required).

A ``code`` under a required binding must be one of the value set's codes. A Coding or
CodeableConcept under one must not carry a code of one of the value set's systems that the
set does not hold (a coding of another system is left alone: R4 lets a CodeableConcept carry
translations, and text-only concepts are common in what EHRs send).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

TABLE = Path(__file__).with_name("required.json")


@dataclass(frozen=True)
class Violation:
    path: str  # FHIRPath-style location in the resource, e.g. Observation.component[0].code
    value: str
    value_set: str
    allowed: tuple[str, ...]

    def message(self) -> str:
        shown = ", ".join(self.allowed[:40]) + (", …" if len(self.allowed) > 40 else "")
        return (f"{self.path}: '{self.value}' is not in the required value set {self.value_set} "
                f"(allowed: {shown}).")


@cache
def _table() -> dict[str, Any]:
    return json.loads(TABLE.read_text())


def violations(resource: dict[str, Any]) -> list[Violation]:
    """Every element of ``resource`` (nested resources included) outside its required value set."""
    found: list[Violation] = []
    resource_type = resource.get("resourceType")
    if isinstance(resource_type, str):
        _walk(resource, resource_type, resource_type, found)
    return found


def _walk(node: dict[str, Any], base: str, where: str, found: list[Violation]) -> None:
    elements = _table()["elements"]
    for key, value in node.items():
        if key.startswith("_") or key == "resourceType":
            continue
        entry = elements.get(f"{base}.{key}")
        if entry is None:
            continue
        items = value if isinstance(value, list) else [value]
        for index, item in enumerate(items):
            at = f"{where}.{key}[{index}]" if isinstance(value, list) else f"{where}.{key}"
            _visit(entry, item, f"{base}.{key}", at, found)


def _visit(entry: dict[str, Any], item: Any, path: str, at: str, found: list[Violation]) -> None:
    if "b" in entry:
        _check(entry["b"], item, at, found)
    if not isinstance(item, dict):
        return
    if "e" in entry:
        _walk(item, path, at, found)
    elif "c" in entry:
        _walk(item, entry["c"], at, found)
    elif "t" in entry:
        _walk(item, entry["t"], at, found)
    elif "r" in entry and isinstance(item.get("resourceType"), str):
        _walk(item, item["resourceType"], at, found)


def _check(url: str, item: Any, at: str, found: list[Violation]) -> None:
    systems: dict[str, list[str]] = _table()["valueSets"][url]
    allowed = tuple(code for codes in systems.values() for code in codes)
    if isinstance(item, str):
        if item not in allowed:
            found.append(Violation(at, item, url, allowed))
        return
    if not isinstance(item, dict):
        return
    codings = item.get("coding") if "coding" in item else [item]
    for index, coding in enumerate(codings if isinstance(codings, list) else []):
        if not isinstance(coding, dict) or coding.get("system") not in systems:
            continue
        code = coding.get("code")
        if isinstance(code, str) and code not in systems[coding["system"]]:
            place = f"{at}.coding[{index}].code" if "coding" in item else f"{at}.code"
            found.append(Violation(place, code, url, tuple(systems[coding["system"]])))
