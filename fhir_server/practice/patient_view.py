"""A patient's record as a staff member sees it: the portal's ``Viewing`` (which its health and
message views are built around), with the staff member's one-door caller instead of a
patient's. So the console reads exactly what the patient's portal reads, under the role's grants."""

from __future__ import annotations

from fhir_server.access import check_resource
from fhir_server.portal.accounts import Account
from fhir_server.portal.viewing import Viewing, patients_by_id
from fhir_server.practice.session import Console
from fhir_server.resources.errors import FhirError
from fhir_server.services import Services

NOT_FOUND = "We could not find that patient. They may have been removed, or the address may be mistyped."


async def staff_view(services: Services, console: Console, patient_id: str) -> Viewing:
    """The Viewing of ``patient_id`` for this staff member (404 page when there is no such patient)."""
    check_resource(console.caller, "Patient", patient_id, [patient_id], "r")
    found = await patients_by_id(services.db, [patient_id])
    if patient_id not in found:
        raise FhirError(404, "not-found", NOT_FOUND)
    member = console.staff
    # Viewing carries the signed-in person as an Account; a staff member has none, so this stands in.
    account = Account(id=member.id, email=member.email, password_hash="", birth_date="", name=member.name,
                      kind="staff", patient_id=None)
    return Viewing(account, patient_id, found[patient_id], console.caller, [])
