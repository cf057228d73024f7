"""What narrows a Bulk Data export (https://hl7.org/fhir/uv/bulkdata/export.html#query-parameters):
the members of a Group, ``patient=``, ``_typeFilter`` and ``_elements``.

- A Group's members are the Patients its ``member.entity`` references name (inactive members
  left out); the export then runs under a scope limited to those patients' compartments, so
  every type is read by the search engine with the compartment index driving the query.
- ``_typeFilter`` (``Observation?category=laboratory``) is a search per type; several for one
  type are OR'ed. A type without a filter is exported whole.
- ``_elements`` keeps the named elements (``code`` for every type, ``Observation.code`` for
  one), plus ``resourceType``, ``id``, ``meta`` and the type's mandatory elements, and marks
  the trimmed resource SUBSETTED, as a search's ``_elements`` does.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from typing import Any
from urllib.parse import parse_qsl

from fhir.resources.R4B import get_fhir_model_class

from fhir_server.resources.errors import FhirError, bad_request
from fhir_server.resources.search import SearchScope
from fhir_server.resources.search.query import parse
from fhir_server.resources.search.shaping import SUBSETTED
from fhir_server.resources.validation import is_resource_type

TypeFilters = dict[str, list[list[tuple[str, str]]]]
Elements = dict[str | None, frozenset[str]]  # None: for every type


def group_members(group: dict[str, Any], base_url: str) -> list[str]:
    """The ids of the Patients a Group's active members reference."""
    members: list[str] = []
    for member in group.get("member") or []:
        if not isinstance(member, dict) or member.get("inactive") is True:
            continue
        reference = str((member.get("entity") or {}).get("reference", ""))
        if reference.startswith(base_url.rstrip("/") + "/"):
            reference = reference[len(base_url.rstrip("/")) + 1:]
        kind, _, member_id = reference.partition("/")
        if kind == "Patient" and member_id and "/" not in member_id:
            members.append(member_id)
    return sorted(set(members))


def patient_ids(values: list[str]) -> list[str]:
    """``patient`` parameters: references to Patients (``Patient/123``)."""
    ids = []
    for value in values:
        kind, _, patient_id = value.rpartition("/")
        if not patient_id or (kind and not kind.endswith("Patient")):
            raise bad_request(f"patient must reference a Patient (Patient/123), not '{value}'.", ["patient"])
        ids.append(patient_id)
    return sorted(set(ids))


def limited_to(scope: SearchScope, patients: list[str]) -> SearchScope:
    """``scope`` narrowed to these patients' compartments (no reference data of no patient)."""
    inside = frozenset(patients) if scope.patients is None else scope.patients & frozenset(patients)
    return replace(scope, patients=inside, allow_non_compartment=False)


def type_filters(values: list[str], base_url: str) -> TypeFilters:
    """``_typeFilter`` values, checked like a strict search so a typo is a 400, not a silent whole type."""
    filters: TypeFilters = {}
    for value in _queries(values):
        resource_type, mark, query = value.partition("?")
        if not mark or not query or not is_resource_type(resource_type):
            raise bad_request(f"_typeFilter must be a resource type and a search (Observation?status=final), "
                              f"not '{value}'.", ["_typeFilter"])
        params = parse_qsl(query, keep_blank_values=True)
        for name, _ in params:
            if name.split(":")[0] in ("_count", "_sort", "_cursor", "_include", "_revinclude", "_summary",
                                      "_elements", "_total"):
                raise bad_request(f"_typeFilter '{value}' may only hold search criteria, not {name}.",
                                  ["_typeFilter"])
        try:
            parse([resource_type], params, base_url=base_url, strict=True)
        except FhirError as exc:
            raise bad_request(f"_typeFilter '{value}': {exc.diagnostics}", ["_typeFilter"]) from None
        filters.setdefault(resource_type, []).append(params)
    return filters


def _queries(values: list[str]) -> list[str]:
    """One query per item: a value holds several, comma-separated (each query's own commas come
    escaped, %2C; an unescaped one before something that is no ``Type?`` stays in its query,
    where search reads it as OR anyway)."""
    queries: list[str] = []
    for value in values:
        pieces = value.split(",")
        queries.append(pieces[0])
        for piece in pieces[1:]:
            if "?" in piece and piece[:1].isupper():
                queries.append(piece)
            else:
                queries[-1] += "," + piece
    return queries


def elements(values: list[str]) -> Elements:
    found: dict[str | None, set[str]] = {}
    for value in values:
        for item in (v.strip() for v in value.split(",")):
            if not item:
                continue
            resource_type, dot, name = item.rpartition(".")
            if dot and not is_resource_type(resource_type):
                raise bad_request(f"_elements '{item}' names no resource type.", ["_elements"])
            if not name.isidentifier():
                raise bad_request(f"_elements '{item}' is not an element name.", ["_elements"])
            found.setdefault(resource_type or None, set()).add(name)
    return {k: frozenset(v) for k, v in found.items()}


def trim(resource: dict[str, Any], wanted: Elements) -> dict[str, Any]:
    """The resource with only the asked-for elements, tagged SUBSETTED; untouched when none apply."""
    resource_type = str(resource.get("resourceType"))
    names = wanted.get(None, frozenset()) | wanted.get(resource_type, frozenset())
    if not names:
        return resource
    keep = {"resourceType", "id", "meta", *_mandatory(resource_type), *names}
    kept = {k: v for k, v in resource.items() if k in keep or k.lstrip("_") in keep
            or any(k.startswith(n) and k[len(n):][:1].isupper() for n in names)}  # value[x] as valueQuantity
    meta = dict(kept.get("meta") or {})
    meta["tag"] = [*meta.get("tag", []), SUBSETTED]
    kept["meta"] = meta
    return kept


@cache
def _mandatory(resource_type: str) -> frozenset[str]:
    """The type's elements of minimum cardinality 1 (kept so the trimmed resource still parses)."""
    model = get_fhir_model_class(resource_type)
    return frozenset(field.alias or name for name, field in model.model_fields.items()
                     if field.is_required() or (field.json_schema_extra or {}).get("element_required"))  # type: ignore[union-attr]
