"""Compile one search parameter occurrence into a clause: an optional indexed
MongoDB predicate (one field) plus an exact Python check on the stored ``idx``.

Semantics follow FHIR R4 search (https://hl7.org/fhir/R4/search.html):
token (#token), reference (#reference), date with prefixes (#prefix, #date),
string (#string), quantity (#quantity), number (#number), uri (#uri) and the
``:missing``/``:not``/``:text``/``:exact``/``:contains``/``:of-type``/
``:identifier``/``:below`` modifiers (#modifiers).  A comma means OR inside one
clause; repeating a parameter ANDs clauses.

This module dispatches on the parameter type (:func:`compile_clause`) and
handles ``:missing`` and ``_id``; the shared :class:`Clause` type is in
``clause_base`` and each type family has its own ``clause_*`` module, all
re-exported here.
"""

from __future__ import annotations

from ..errors import FhirError
from .clause_base import (
    NO_DRIVE,
    PREFIXES,
    RANK_COMP,
    RANK_DATE,
    RANK_ID,
    RANK_IDENT,
    RANK_STRING,
    RANK_TOKEN,
    RANK_WEAK,
    Clause,
    _in,
    bad,
    split_or,
)
from .clause_date import MAX_DATE, MIN_DATE, date_clause, date_test, parse_date
from .clause_quantity import quantity_clause, uri_clause
from .clause_reference import ref_entries_clause, reference_clause, reference_entries
from .clause_string import string_clause
from .clause_token import token_clause, token_entries
from .definitions import SearchParam

__all__ = [
    "MAX_DATE",
    "MIN_DATE",
    "NO_DRIVE",
    "PREFIXES",
    "RANK_COMP",
    "RANK_DATE",
    "RANK_ID",
    "RANK_IDENT",
    "RANK_STRING",
    "RANK_TOKEN",
    "RANK_WEAK",
    "Clause",
    "bad",
    "compile_clause",
    "date_clause",
    "date_test",
    "id_clause",
    "missing_clause",
    "parse_date",
    "quantity_clause",
    "ref_entries_clause",
    "reference_clause",
    "reference_entries",
    "split_or",
    "string_clause",
    "token_clause",
    "token_entries",
    "uri_clause",
]


# ---------------------------------------------------------------- common
def missing_clause(sp: SearchParam, value: str, label: str) -> Clause:
    if value not in ("true", "false"):
        raise bad(label, "expected true or false")
    name = sp.name
    if value == "true":
        return Clause(label, lambda doc: name not in doc.get("idx", {}).get("has", ()))
    return Clause(label, lambda doc: name in doc.get("idx", {}).get("has", ()), "idx.has", name, RANK_WEAK, True)


def id_clause(values: list[str], label: str, negate: bool = False) -> Clause:
    ids = frozenset(values)
    if negate:
        return Clause(label, lambda doc: doc["_id"] not in ids)
    return Clause(label, lambda doc: doc["_id"] in ids, "_id", _in(sorted(ids)), RANK_ID, True)


def compile_clause(sp: SearchParam, modifier: str | None, raw: str, base_url: str, label: str) -> Clause:
    """Compile ``name[:modifier]=raw`` (raw may hold comma-separated OR values)."""
    values = split_or(raw)
    if not values:
        raise bad(label, "empty value")
    if modifier == "missing":
        return missing_clause(sp, raw, label)
    if sp.name == "_id":
        if modifier not in (None, "not"):
            raise FhirError(400, "not-supported", f"Modifier :{modifier} is not supported on _id", [label])
        return id_clause(values, label, modifier == "not")
    t = sp.type
    if t == "token":
        return token_clause(sp, modifier, values, label)
    if t == "reference":
        return reference_clause(sp, modifier, values, base_url, label)
    if modifier is not None and t in ("date", "quantity", "number"):
        raise FhirError(400, "not-supported", f"Modifier :{modifier} is not supported on {sp.name}", [label])
    if t == "date":
        return date_clause(sp, values, label)
    if t == "string":
        return string_clause(sp, modifier, values, label)
    if t in ("quantity", "number"):
        return quantity_clause(sp, values, label)
    if t == "uri":
        return uri_clause(sp, modifier, values, label)
    raise FhirError(400, "not-supported", f"Search parameter type {t} is not supported", [label])
