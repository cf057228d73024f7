"""The portal's caller for the one door (``fhir_server.access``)."""

from __future__ import annotations

from fhir_server.access import Caller
from fhir_server.portal.accounts import Account
from fhir_server.smart.scopes import ScopeGrant

FULL_ACCESS = (ScopeGrant("user", "*", frozenset("cruds")),)


def portal_caller(account: Account, patient_id: str) -> Caller:
    """A portal session acting in one patient's compartment: the person's own record, or (for
    a delegate) a patient who granted them access."""
    if patient_id == account.patient_id:
        return Caller(kind="patient", subject=account.id, grants=FULL_ACCESS, patients=frozenset({patient_id}),
                      fhir_user=f"Patient/{patient_id}")
    grant = next((r for r in account.related_persons if r["patient"] == patient_id), None)
    if grant is None:
        raise PermissionError(f"account {account.id} has no access to Patient/{patient_id}")
    return Caller(kind="delegate", subject=account.id, grants=FULL_ACCESS, patients=frozenset({patient_id}),
                  fhir_user=f"RelatedPerson/{grant['related_person']}", on_behalf_of=patient_id,
                  claims={"consent": grant.get("consent")})
