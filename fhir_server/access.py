"""The one door: who is asking, and which patient compartments, types and interactions
their grants allow. The REST API and the portal both decide here.

A caller holds SMART grants (from a token's scopes, or full access for a portal session)
and a set of patients: ``None`` means every patient (back-end clients, practice
administration); otherwise only those patients' compartments. Reads and searches are
filtered in the database query through ``search_scope``; writes and reads by id are checked
with ``check_resource`` before anything is returned or stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fhir_server.resources.errors import FhirError, forbidden, not_found
from fhir_server.resources.search.compartment import REFERENCE_DATA, visible_to
from fhir_server.resources.search.scope import SearchScope
from fhir_server.smart.scopes import ScopeGrant

INTERACTION_NAMES = {"c": "create", "r": "read", "u": "update", "d": "delete", "s": "search"}
#: The records a delegate's access rests on. Only the portal's Manage users (the patient, and
#: the invitee accepting) changes them, so that every grant stays listed and revocable.
GRANT_RECORDS = frozenset({"Consent", "RelatedPerson"})


class Refused(FhirError):
    """A refusal by the one door, carrying who asked and what, so that it is audited
    (``fhir_server.audit_refusals``). ``serious``: an attempt on another patient's data or on
    the records access rests on; otherwise a scope the token does not have."""

    def __init__(self, error: FhirError, caller: Caller, resource_type: str, resource_id: str | None,
                 interaction: str, *, serious: bool) -> None:
        super().__init__(error.status, error.code, error.diagnostics, error.expression, error.headers)
        self.caller = caller
        self.resource_type = resource_type
        self.resource_id = resource_id
        self.interaction = interaction
        self.serious = serious

    @property
    def what(self) -> str:
        return f"{self.resource_type}/{self.resource_id}" if self.resource_id else self.resource_type


@dataclass(frozen=True)
class Caller:
    """Who is asking. ``patients`` None = all patients (system or practice administration)."""

    kind: str  # "system" | "patient" | "delegate" | "user" | "admin"
    subject: str  # client id, account id or "admin"
    grants: tuple[ScopeGrant, ...]
    patients: frozenset[str] | None
    client_id: str | None = None
    fhir_user: str | None = None  # "Patient/x" or "RelatedPerson/y"
    on_behalf_of: str | None = None  # the patient a delegate acts for
    claims: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_unrestricted(self) -> bool:
        return self.patients is None

    def who(self) -> str:
        """The reference an AuditEvent names as the agent."""
        return self.fhir_user or f"Device/{self.client_id or self.subject}"


def _grants_for(caller: Caller, resource_type: str, interaction: str) -> list[ScopeGrant]:
    return [g for g in caller.grants if g.covers(resource_type, interaction)]


def check_interaction(caller: Caller, resource_type: str, interaction: str) -> None:
    """403 when no scope allows this interaction on this type. The audit trail is append-only:
    nobody updates or deletes an AuditEvent, and patient-side callers do not write them."""
    if resource_type == "AuditEvent" and (interaction in "ud" or (interaction == "c" and caller.patients is not None)):
        raise Refused(forbidden("AuditEvents are an append-only record written by the server; they cannot be "
                                "changed."), caller, resource_type, None, interaction, serious=True)
    if resource_type in GRANT_RECORDS and interaction in "cud" and caller.patients is not None and caller.client_id:
        # An app with a patient's or a delegate's token: a delegate must not be able to delete
        # or rewrite what her own access rests on, and no app changes who may see the record.
        raise Refused(forbidden(f"{resource_type} resources record who may see this patient's record; they are "
                                "managed in the portal's Manage users, not through an app."),
                      caller, resource_type, None, interaction, serious=True)
    if not _grants_for(caller, resource_type, interaction):
        raise Refused(forbidden(f"The token's scopes do not allow {INTERACTION_NAMES[interaction]} on "
                                f"{resource_type}."), caller, resource_type, None, interaction, serious=False)


def search_scope(caller: Caller, resource_type: str, interaction: str = "s") -> SearchScope:
    """The filter every read and search of this caller runs inside (applied in the query)."""
    grants = _grants_for(caller, resource_type, interaction)
    if not grants:
        raise Refused(forbidden(f"The token's scopes do not allow search on {resource_type}."),
                      caller, resource_type, None, interaction, serious=False)
    # Restrictions of every granted type, not only this one: _include and _revinclude bring in others.
    types = sorted({resource_type} | {g.resource_type for g in caller.grants if g.resource_type != "*"})
    return SearchScope(patients=caller.patients, restrictions=_restrictions(caller, types, interaction),
                       allow_non_compartment=True, types=readable_types(caller, interaction))


def system_search_scope(caller: Caller, resource_types: list[str]) -> SearchScope:
    """The scope of a search across several types (``_type``): each type's own restrictions."""
    for resource_type in resource_types:
        search_scope(caller, resource_type)  # 403 for a type the scopes do not allow
    types = sorted(set(resource_types) | {g.resource_type for g in caller.grants if g.resource_type != "*"})
    return SearchScope(patients=caller.patients, restrictions=_restrictions(caller, types, "s"),
                       allow_non_compartment=True, types=readable_types(caller, "s"))


def readable_types(caller: Caller, interaction: str = "s") -> frozenset[str] | None:
    """The types the caller's grants let it search (None: every type); ``_include``,
    ``_revinclude`` and chains stay inside them."""
    if any(g.resource_type == "*" and interaction in g.interactions for g in caller.grants):
        return None
    return frozenset(g.resource_type for g in caller.grants if interaction in g.interactions)


Restrictions = dict[str, list[list[tuple[str, str]]]]


def _restrictions(caller: Caller, resource_types: list[str], interaction: str) -> Restrictions:
    restrictions: Restrictions = {}
    for resource_type in resource_types:
        grants = _grants_for(caller, resource_type, interaction)
        # A v2 query restriction narrows only if every grant for the type is restricted.
        if grants and all(g.query for g in grants):
            restrictions[resource_type] = [list(g.query) for g in grants]
    return restrictions


def can_read_everything(caller: Caller) -> bool:
    """System-wide history and the like: only for a grant on every type."""
    return caller.patients is None and readable_types(caller, "r") is None


def check_resource(caller: Caller, resource_type: str, resource_id: str,
                   compartments: list[str], interaction: str) -> None:
    """A resource read, changed or deleted by id: inside the caller's patients?

    Outside them the answer is 404, so that a patient cannot learn that another patient's
    resource exists.
    """
    check_interaction(caller, resource_type, interaction)
    if caller.patients is None:
        return
    if not compartments and resource_type in REFERENCE_DATA and interaction in "cud":
        raise Refused(forbidden(f"A patient-scoped caller cannot {INTERACTION_NAMES[interaction]} "
                                f"{resource_type}, which belongs to no patient."),
                      caller, resource_type, resource_id, interaction, serious=False)
    if not visible_to(caller.patients, resource_type, compartments):
        # Another patient's data, or a patient-data type that names no patient (e.g. a Binary
        # without securityContext, a Task without ``for``): nobody's, so not this caller's.
        raise Refused(not_found(resource_type, resource_id), caller, resource_type, resource_id, interaction,
                      serious=True)


def check_write(caller: Caller, resource_type: str, compartments: list[str], interaction: str) -> None:
    """A new or changed resource must stay inside the caller's patients."""
    check_interaction(caller, resource_type, interaction)
    if caller.patients is None:
        return
    if not compartments:
        raise Refused(forbidden(f"A patient-scoped caller cannot write {resource_type}, which belongs to no "
                                "patient."), caller, resource_type, None, interaction, serious=False)
    outside = set(compartments) - caller.patients
    if outside:
        raise Refused(forbidden("The resource refers to patient(s) outside this token's access: "
                                f"{', '.join(sorted(outside))}."), caller, resource_type, None, interaction,
                      serious=True)


# -- the practice's staff (the practice console) ---------------------------------------------

#: What a staff role may read and write of any patient: front-desk the demographics, who has
#: access and the messages; clinicians and admins the whole chart. Admins also manage staff and apps.
STAFF_ROLES = ("front-desk", "clinician", "admin")
_FRONT_DESK_TYPES = ("Patient", "RelatedPerson", "Consent", "Communication", "CareTeam", "Organization",
                     "Practitioner", "PractitionerRole")
_FRONT_DESK = tuple(ScopeGrant("user", t, frozenset("crus")) for t in _FRONT_DESK_TYPES)
_CHART = (ScopeGrant("user", "*", frozenset("crus")),)
STAFF_GRANTS: dict[str, tuple[ScopeGrant, ...]] = {"front-desk": _FRONT_DESK, "clinician": _CHART, "admin": _CHART}
#: Console actions that are not a FHIR interaction on one type.
STAFF_ACTIONS: dict[str, frozenset[str]] = {
    "front-desk": frozenset({"messages", "patients", "invite", "two-step-off", "apps-list"}),
    "clinician": frozenset({"messages", "patients", "invite", "two-step-off", "apps-list", "chart", "share",
                            "access-log"}),
    "admin": frozenset({"messages", "patients", "invite", "two-step-off", "apps-list", "chart", "share",
                        "access-log", "staff", "apps"}),
}
#: What a refused action is audited as (type, interaction): one refusal event per kind of attempt.
ACTION_TARGETS = {"chart": ("Observation", "r"), "share": ("DocumentReference", "c"), "access-log": ("AuditEvent", "s"),
                  "staff": ("StaffAccount", "u"), "apps": ("SmartApp", "u"), "messages": ("Communication", "s"),
                  "patients": ("Patient", "s"), "invite": ("Patient", "u"), "apps-list": ("SmartApp", "r"),
                  "two-step-off": ("PortalAccount", "u")}
ACTION_NAMES = {"chart": "open a patient's chart", "share": "share documents", "access-log": "read the access log",
                "staff": "manage staff accounts", "apps": "manage registered apps", "messages": "read messages",
                "patients": "look up patients", "invite": "invite patients", "apps-list": "see the registered apps",
                "two-step-off": "turn off a patient's two-step sign-in"}


def staff_caller(staff_id: str, role: str, practitioner_id: str | None) -> Caller:
    """A signed-in member of the care team: every patient, within the role's grants. Their
    Practitioner is the agent of their AuditEvents and the sender of their messages."""
    if role not in STAFF_ROLES:
        raise ValueError(f"unknown staff role {role!r}")
    return Caller(kind="staff", subject=staff_id, grants=STAFF_GRANTS[role], patients=None,
                  fhir_user=f"Practitioner/{practitioner_id}" if practitioner_id else None,
                  claims={"role": role})


def check_staff_action(caller: Caller, action: str) -> None:
    """403 (audited as a refusal) when the staff member's role does not allow this action."""
    role = str(caller.claims.get("role", ""))
    if caller.kind != "staff" or action not in STAFF_ACTIONS.get(role, frozenset()):
        what = ACTION_NAMES.get(action, action)
        target, interaction = ACTION_TARGETS.get(action, ("Practice", "r"))
        raise Refused(forbidden(f"Your role ({role or 'none'}) does not allow you to {what}. "
                                "Ask a practice administrator if you need it."),
                      caller, target, None, interaction, serious=False)


def staff_may(caller: Caller, action: str) -> bool:
    """Whether to offer an action on a page (the route still checks)."""
    return caller.kind == "staff" and action in STAFF_ACTIONS.get(str(caller.claims.get("role", "")), frozenset())
