"""The shared pieces of every compiled search clause: the :class:`Clause` type,
the driving ranks, the 400 helper and the small index accessors.

A clause is an optional indexed MongoDB predicate (one field) plus an exact
Python check on the stored ``idx``; the executor sends the lowest-ranked one
to MongoDB.  The per-type compilers live in ``clause_token``,
``clause_reference``, ``clause_date``, ``clause_string`` and
``clause_quantity``; :func:`.clauses.compile_clause` picks one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import FhirError

PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")

# Driving ranks (lower = preferred as the one indexed predicate).
RANK_ID, RANK_COMP, RANK_IDENT, RANK_TOKEN, RANK_DATE, RANK_STRING, RANK_WEAK, NO_DRIVE = 0, 1, 2, 3, 4, 5, 8, 99


@dataclass
class Clause:
    """One AND-ed search condition."""

    label: str
    match: Callable[[dict], bool]
    field: str | None = None
    cond: Any = None
    rank: int = NO_DRIVE
    exact: bool = False  #: the MongoDB predicate alone decides the clause
    patient_ids: frozenset[str] | None = None  #: set when the clause only matches Patient/<id> references
    ref_param: str | None = None


def bad(param: str, why: str) -> FhirError:
    """400 naming the parameter."""
    return FhirError(400, "invalid", f"Invalid search parameter {param}: {why}", [param])


def _split_prefix(v: str) -> tuple[str, str]:
    if len(v) > 2 and v[:2] in PREFIXES and (v[2].isdigit() or v[2] in "-+."):
        return v[:2], v[2:]
    return "eq", v


def _in(values: list[str]) -> Any:
    return values[0] if len(values) == 1 else {"$in": values}


def _idx(doc: dict, kind: str) -> list:
    return doc.get("idx", {}).get(kind, ())


def split_or(raw: str) -> list[str]:
    """Split on commas not escaped with a backslash (search.html#escaping)."""
    out, cur, i = [], [], 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\" and i + 1 < len(raw) and raw[i + 1] in ",$|\\":
            cur.append(raw[i + 1])
            i += 2
            continue
        if ch == ",":
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    out.append("".join(cur))
    return [v for v in out if v != ""]
