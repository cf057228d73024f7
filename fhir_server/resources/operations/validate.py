"""Resource $validate — http://hl7.org/fhir/OperationDefinition/Resource-validate

Checks a resource against the R4B model without storing it; the answer is always an
OperationOutcome (200), whose issues say what is wrong, or that nothing is."""

from __future__ import annotations

from typing import Any

from fhir_server.resources.errors import FhirError, operation_outcome
from fhir_server.resources.validation import validate


def resource_from_body(body: Any) -> Any:
    """The body is the resource itself or a Parameters with a ``resource`` parameter."""
    if isinstance(body, dict) and body.get("resourceType") == "Parameters":
        for parameter in body.get("parameter") or []:
            if parameter.get("name") == "resource":
                return parameter.get("resource")
        return None
    return body


def validate_resource(body: Any, resource_type: str) -> dict[str, Any]:
    resource = resource_from_body(body)
    try:
        validate(resource, resource_type)
    except FhirError as exc:
        return exc.outcome()
    return operation_outcome("informational", f"The {resource_type} is valid.", severity="information")
