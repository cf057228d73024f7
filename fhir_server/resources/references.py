"""Literal references inside resources (https://hl7.org/fhir/R4/references.html#literal): what a
record refers to, for ``$everything`` and for the record a patient sends."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def referenced_ids(resources: Iterable[dict[str, Any]], base_url: str, types: Iterable[str],
                   found: dict[str, set[str]] | None = None) -> dict[str, set[str]]:
    """Ids of the resources of ``types`` that these resources refer to, by type (added to
    ``found``): every literal ``reference``, relative or absolute on this server, version dropped."""
    found = found if found is not None else {t: set() for t in types}
    prefix = base_url.rstrip("/") + "/"
    pending: list[Any] = list(resources)
    while pending:  # a walk without recursion: a resource's depth is the sender's to choose
        node = pending.pop()
        if isinstance(node, list):
            pending.extend(node)
        elif isinstance(node, dict):
            for key, value in node.items():
                if key == "reference" and isinstance(value, str):
                    target_type, _, target_id = value.removeprefix(prefix).split("/_history/", 1)[0].partition("/")
                    if target_type in found and target_id and "/" not in target_id:
                        found[target_type].add(target_id)
                elif isinstance(value, (dict, list)):
                    pending.append(value)
    return found
