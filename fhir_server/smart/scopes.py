"""SMART scopes, v1 and v2 (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html).

``patient/Observation.rs?category=laboratory`` (v2) and ``patient/*.read`` (v1) both become a
``ScopeGrant``: a context, a resource type (or ``*``), the interactions c r u d s, and the
v2 query restrictions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

CONTEXTS = ("patient", "user", "system")
V1_INTERACTIONS = {"read": "rs", "write": "cud", "*": "cruds"}
_SCOPE = re.compile(r"^(patient|user|system)/(\*|[A-Z][A-Za-z]+)\.([a-z*]+)(\?.*)?$")
NON_RESOURCE_SCOPES = frozenset({
    "launch", "launch/patient", "launch/encounter", "openid", "fhirUser", "profile",
    "offline_access", "online_access",
})


class ScopeError(ValueError):
    """A scope string that is not a SMART scope."""


@dataclass(frozen=True)
class ScopeGrant:
    context: str
    resource_type: str
    interactions: frozenset[str]
    query: tuple[tuple[str, str], ...] = ()

    def covers(self, resource_type: str, interaction: str) -> bool:
        return self.resource_type in ("*", resource_type) and interaction in self.interactions

    def __str__(self) -> str:
        letters = "".join(c for c in "cruds" if c in self.interactions)
        query = "?" + "&".join(f"{k}={v}" for k, v in self.query) if self.query else ""
        return f"{self.context}/{self.resource_type}.{letters}{query}"


def parse_grant(scope: str) -> ScopeGrant | None:
    """A resource scope as a grant; None for launch/openid-style scopes; ScopeError otherwise."""
    if scope in NON_RESOURCE_SCOPES:
        return None
    match = _SCOPE.match(scope)
    if not match:
        raise ScopeError(f"'{scope}' is not a SMART scope.")
    context, resource_type, action, query = match.groups()
    if action in V1_INTERACTIONS:
        letters = V1_INTERACTIONS[action]
    elif re.fullmatch(r"c?r?u?d?s?", action) and action:
        letters = action
    else:
        raise ScopeError(f"'{scope}': '{action}' is neither v1 (read, write, *) nor v2 (cruds in order).")
    restriction = tuple(parse_qsl(query[1:], keep_blank_values=True)) if query else ()
    return ScopeGrant(context, resource_type, frozenset(letters), restriction)


def parse_scopes(scope_string: str) -> list[ScopeGrant]:
    grants = []
    for scope in scope_string.split():
        grant = parse_grant(scope)
        if grant:
            grants.append(grant)
    return grants


def _intersect(requested: ScopeGrant, allowed: ScopeGrant) -> ScopeGrant | None:
    if requested.context != allowed.context or allowed.resource_type not in ("*", requested.resource_type):
        return None
    letters = requested.interactions & allowed.interactions
    if not letters:
        return None
    query = requested.query + tuple(q for q in allowed.query if q not in requested.query)
    return ScopeGrant(requested.context, requested.resource_type, frozenset(letters), query)


def intersect_scopes(requested: str, allowed: str | None) -> list[str]:
    """What of ``requested`` the ``allowed`` scopes permit (``None``: everything).

    A requested scope that an allowed one fully covers is kept as written (v1 stays v1);
    one that is only partly covered becomes the narrower v2 scope. Order is kept, no repeats.
    """
    out: list[str] = []
    allowed_tokens = None if allowed is None else allowed.split()
    allowed_grants = [] if allowed is None else parse_scopes(allowed)
    for scope in requested.split():
        grant = parse_grant(scope)
        if grant is None:
            if allowed_tokens is None or scope in allowed_tokens:
                out.append(scope)
            continue
        if allowed is None:
            out.append(scope)
            continue
        narrowed = [g for g in (_intersect(grant, a) for a in allowed_grants) if g]
        if any(g == grant for g in narrowed):
            out.append(scope)
        else:
            out.extend(str(g) for g in narrowed)
    return list(dict.fromkeys(out))


def is_subset(requested: str, granted: str) -> bool:
    """True when every requested scope is within what was granted (refresh: no escalation)."""
    return set(intersect_scopes(requested, granted)) == set(requested.split())


def describe(scope: str) -> str:
    """A scope in plain words for the consent page."""
    plain = {
        "openid": "Know who you are (your name and account)",
        "fhirUser": "Know who you are (your name and account)",
        "profile": "Know who you are (your name and account)",
        "launch": "Open with the patient you are looking at",
        "launch/patient": "Know which patient's record you choose",
        "offline_access": "Keep access when you are not using it, until you revoke it",
        "online_access": "Keep access while you are using it",
    }
    if scope in plain:
        return plain[scope]
    grant = parse_grant(scope)
    assert grant is not None
    what = "all health records" if grant.resource_type == "*" else _plain_type(grant.resource_type)
    verbs = []
    if grant.interactions & {"r", "s"}:
        verbs.append("read")
    if "c" in grant.interactions:
        verbs.append("add")
    if "u" in grant.interactions:
        verbs.append("change")
    if "d" in grant.interactions:
        verbs.append("delete")
    text = f"{' and '.join(verbs).capitalize()} {what}"
    if grant.query:
        text += " (only " + ", ".join(f"{k} {v}" for k, v in grant.query) + ")"
    return text


def _plain_type(resource_type: str) -> str:
    names = {
        "Observation": "lab results and measurements", "Condition": "conditions and diagnoses",
        "MedicationRequest": "medications", "AllergyIntolerance": "allergies",
        "DocumentReference": "documents", "Patient": "demographics (name, birth date, contact)",
        "Immunization": "immunizations", "Procedure": "procedures", "Encounter": "visits",
        "DiagnosticReport": "reports", "Communication": "messages", "CarePlan": "care plans",
    }
    return names.get(resource_type, re.sub(r"(?<!^)([A-Z])", r" \1", resource_type).lower() + " records")
