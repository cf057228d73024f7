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
