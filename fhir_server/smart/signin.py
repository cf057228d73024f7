"""Who is signed in to the portal, and whose records they may open: the portal's answers.

The portal owns sign-in (``fhir_server.portal.sessions.current_account``) and the list of
patients an account may open (``accessible_patients``); this module only adapts them for
/auth/authorize and /auth/launch, and finds the RelatedPerson and Consent a delegate acts
under, so that their tokens stop working once the patient revokes the Consent.
"""

from __future__ import annotations

import importlib
from typing import Any

from fastapi import Request

from fhir_server.db import Database


def _portal(name: str) -> Any:
    for module in ("fhir_server.portal.sessions", "fhir_server.portal.accounts"):
        try:
            found = getattr(importlib.import_module(module), name, None)
        except ImportError:
            continue
        if found is not None:
            return found
    return None


async def current_account(request: Request) -> Any | None:
    """The signed-in portal account (``id``, ``email``, ``patient_id``), or None."""
    portal_current = _portal("current_account")
    return await portal_current(request) if portal_current else None


async def accessible_patients(db: Database, account: Any) -> list[tuple[str, str]]:
    """(patient id, display name): the account's own record first, then those shared with it."""
    portal_patients = _portal("accessible_patients")
    if portal_patients:
        return list(await portal_patients(db, account))
    ids = list(getattr(account, "patients", None) or ([account.patient_id] if account.patient_id else []))
    out = []
    for pid in ids:
        doc = await db.resources("Patient").find_one({"_id": pid}, projection={"res.name": 1})
        names = (doc or {}).get("res", {}).get("name") or [{}]
        given = " ".join(names[0].get("given", []))
        out.append((pid, f"{given} {names[0].get('family', '')}".strip() or pid))
    return out


async def acting_as(db: Database, account: Any, patient_id: str) -> tuple[str, str | None] | None:
    """(fhirUser, Consent id or None) for this account opening this patient; None when it may not."""
    if getattr(account, "patient_id", None) == patient_id:
        return f"Patient/{patient_id}", None
    link = next((r for r in getattr(account, "related_persons", None) or [] if r.get("patient") == patient_id), None)
    related = link["related_person"] if link else None
    if not related:
        doc = await db.resources("RelatedPerson").find_one(
            {"res.patient.reference": f"Patient/{patient_id}", "res.telecom.value": account.email},
            projection={"_id": 1})
        related = doc["_id"] if doc else None
    if not related:
        return None
    consent = await db.resources("Consent").find_one(
        {"res.status": "active", "res.patient.reference": f"Patient/{patient_id}",
         "res.provision.actor.reference.reference": f"RelatedPerson/{related}"}, projection={"_id": 1})
    if not consent:
        return None
    return f"RelatedPerson/{related}", consent["_id"]
