"""FHIR errors: routes raise ``FhirError``; one handler renders the OperationOutcome."""

from __future__ import annotations

from typing import Any


def operation_outcome(
    code: str, diagnostics: str, *, severity: str = "error", expression: list[str] | None = None
) -> dict[str, Any]:
    issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": diagnostics}
    if expression:
        issue["expression"] = expression
    return {"resourceType": "OperationOutcome", "issue": [issue]}


class FhirError(Exception):
    """An error a FHIR client sees as an OperationOutcome with an HTTP status."""

    def __init__(
        self,
        status: int,
        code: str,
        diagnostics: str,
        expression: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(diagnostics)
        self.status = status
        self.code = code
        self.diagnostics = diagnostics
        self.expression = expression
        self.headers = headers or {}

    def outcome(self) -> dict[str, Any]:
        return operation_outcome(self.code, self.diagnostics, expression=self.expression)


def bad_request(diagnostics: str, expression: list[str] | None = None) -> FhirError:
    return FhirError(400, "invalid", diagnostics, expression)


def not_found(resource_type: str, resource_id: str | None = None) -> FhirError:
    what = f"{resource_type}/{resource_id}" if resource_id else resource_type
    return FhirError(404, "not-found", f"{what} is not known to this server.")


def gone(resource_type: str, resource_id: str) -> FhirError:
    return FhirError(410, "deleted", f"{resource_type}/{resource_id} has been deleted.")


def conflict(diagnostics: str) -> FhirError:
    return FhirError(409, "conflict", diagnostics)


def precondition_failed(diagnostics: str) -> FhirError:
    return FhirError(412, "conflict", diagnostics)


def forbidden(diagnostics: str) -> FhirError:
    return FhirError(403, "forbidden", diagnostics)


def unauthorized(diagnostics: str, *, error: str | None = None) -> FhirError:
    challenge = 'Bearer realm="CareSpace FHIR"'
    if error:
        challenge += f', error="{error}"'
    return FhirError(401, "login", diagnostics, headers={"WWW-Authenticate": challenge})
