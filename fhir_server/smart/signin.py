"""Who is signed in to the portal, and whose records they may open: the portal's answers,
adapted for /auth/authorize and /auth/launch. A delegate acts under the RelatedPerson and
Consent of an active grant, so that their tokens stop working once the patient revokes it.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from fhir_server.db import Database
from fhir_server.portal import sessions, viewing


async def current_account(request: Request) -> Any | None:
    """The signed-in portal account, or None."""
    return await sessions.current_account(request)


async def accessible_patients(db: Database, account: Any) -> list[tuple[str, str]]:
    """(patient id, display name): the account's own record first, then those shared with it now."""
    return await viewing.accessible_patients(db, account)


async def acting_as(db: Database, account: Any, patient_id: str) -> tuple[str, str | None] | None:
    """(fhirUser, Consent id or None) for this account opening this patient; None when it may not."""
    if getattr(account, "patient_id", None) == patient_id:
        return f"Patient/{patient_id}", None
    grant = next((g for g in await viewing.active_grants(db, account) if g["patient"] == patient_id), None)
    if grant is None:
        return None
    return f"RelatedPerson/{grant['related_person']}", grant.get("consent")
