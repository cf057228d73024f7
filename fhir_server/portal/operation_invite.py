"""``POST /fhir/Patient/{id}/$invite``: invite a patient to register for the portal.

A CareSpace operation (no OperationDefinition in the base specification). In: a Parameters
resource with ``email`` (valueString). Out: an OperationOutcome. Needs practice
administration or a back-end client with a ``system/`` scope that allows updating Patient;
patient-scoped callers are refused. A second call sends a new link; the old one stops working.
An already registered patient gets nothing (409).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from fhir_server.access import check_interaction
from fhir_server.portal.invites import AlreadyRegistered, invite_patient
from fhir_server.resources.errors import FhirError, bad_request, forbidden, operation_outcome
from fhir_server.resources.http import FhirResponse, read_json
from fhir_server.smart.bearer import CallerDep, ServicesDep

router = APIRouter()


def _email(parameters: object) -> str:
    if not isinstance(parameters, dict) or parameters.get("resourceType") != "Parameters":
        raise bad_request("The body must be a Parameters resource with an 'email' parameter.")
    for parameter in parameters.get("parameter") or []:
        if isinstance(parameter, dict) and parameter.get("name") == "email":
            value = parameter.get("valueString")
            if isinstance(value, str) and "@" in value.strip():
                return value.strip()
    raise bad_request("The Parameters must include 'email' with a valueString email address.",
                      expression=["Parameters.parameter"])


@router.post("/Patient/{patient_id}/$invite")
async def invite(patient_id: str, request: Request, caller: CallerDep, services: ServicesDep) -> Response:
    if not caller.is_unrestricted:
        raise forbidden("Only practice administration or a back-end client (system/ scopes) may invite patients.")
    check_interaction(caller, "Patient", "u")
    email = _email(await read_json(request, services.settings.max_body_bytes))
    try:
        sent = await invite_patient(services, patient_id, email)
    except AlreadyRegistered:
        raise FhirError(409, "business-rule",
                        f"Patient/{patient_id} already has a portal account; no invite was sent.") from None
    except ValueError as exc:
        raise bad_request(str(exc)) from None
    verb = "A new registration invite was sent" if sent.resent else "A registration invite was sent"
    note = " (the earlier link no longer works)" if sent.resent else ""
    outcome = operation_outcome("informational", f"{verb} to {sent.email}{note}. It is valid for 4 days.",
                                severity="information")
    return FhirResponse(outcome, status_code=200)
