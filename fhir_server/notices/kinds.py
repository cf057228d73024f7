"""Which new resources are worth a notice, of which kind, for which patients.

Only what the practice writes (an unrestricted caller: staff, back-end systems, imports) is
news; what a patient or their app writes is not announced back to them. Pure functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhir_server.resources.search import patient_compartments


@dataclass(frozen=True)
class Kind:
    key: str
    label: str  # on the settings page
    template: str  # mail template
    link: str  # where the mail's button goes


RESULT = Kind("result", "New test results", "new_result", "/health")
DOCUMENT = Kind("document", "New documents", "new_document", "/health/documents")
MESSAGE = Kind("message", "New messages from the care team", "new_message", "/messages")
KINDS = (RESULT, DOCUMENT, MESSAGE)
BY_KEY = {k.key: k for k in KINDS}

RESULT_STATUSES = {"preliminary", "final", "amended", "corrected", "partial", "appended"}


def _is_lab(observation: dict[str, Any]) -> bool:
    return any(c.get("code") == "laboratory" for cat in observation.get("category", [])
               for c in cat.get("coding", []))


def kind_of(resource: dict[str, Any]) -> Kind | None:
    """The notice a new resource is worth, if any (messages are announced by ``messaging``)."""
    kind, status = resource.get("resourceType"), resource.get("status")
    if kind == "Observation" and status in RESULT_STATUSES and _is_lab(resource):
        return RESULT
    if kind == "DiagnosticReport" and status in RESULT_STATUSES:
        return RESULT
    if kind == "DocumentReference" and status == "current":
        return DOCUMENT
    return None


def news(resources: list[dict[str, Any]], base_url: str) -> dict[Kind, set[str]]:
    """Kind → the patients with something new of that kind in ``resources``."""
    found: dict[Kind, set[str]] = {}
    for resource in resources:
        kind = kind_of(resource)
        if kind:
            found.setdefault(kind, set()).update(patient_compartments(resource, base_url))
    return found
