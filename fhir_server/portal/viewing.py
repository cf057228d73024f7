"""The patient in view: whose record a portal page shows, and the caller it reads with.

A patient views their own record; a delegate views the record of a patient whose Consent
(``related_persons`` on the account) is still active — checked on every request, so a
revoked delegate loses access on their very next click. Pages are built around the
patient in view, never around the signed-in account. The choice lives in the session.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request

from fhir_server.access import Caller
from fhir_server.db import SESSIONS, Database
from fhir_server.portal.accounts import Account
from fhir_server.portal.caller import portal_caller
from fhir_server.portal.invites import display_name
from fhir_server.portal.sessions import COOKIE, SignedIn, digest, services_of
from fhir_server.resources.errors import FhirError


@dataclass(frozen=True)
class Viewing:
    """Who is signed in, whose record is in view, and the one-door caller for it."""

    account: Account
    patient_id: str
    patient: dict[str, Any]
    caller: Caller
    choices: list[tuple[str, str]]  # (patient id, display name) the account may switch to

    @property
    def is_delegate(self) -> bool:
        return self.caller.kind == "delegate"

    @property
    def patient_name(self) -> str:
        return display_name(self.patient) or "Unnamed patient"


async def active_consents(db: Database, consent_ids: list[str]) -> set[str]:
    """Which of these Consents are active right now (one indexed query)."""
    if not consent_ids:
        return set()
    consents = db.resources("Consent").find({"_id": {"$in": consent_ids}}, projection={"res.status": 1})
    return {doc["_id"] async for doc in consents if doc["res"].get("status") == "active"}


async def active_grants(db: Database, account: Account) -> list[dict[str, Any]]:
    """The account's delegate grants whose Consent is active right now."""
    active = await active_consents(db, [g["consent"] for g in account.related_persons if g.get("consent")])
    return [g for g in account.related_persons if g.get("consent") in active]


async def patients_by_id(db: Database, patient_ids: list[str]) -> dict[str, dict[str, Any]]:
    found = db.resources("Patient").find({"_id": {"$in": patient_ids}}, projection={"res": 1})
    return {doc["_id"]: doc["res"] async for doc in found}


async def accessible_patients(db: Database, account: Account) -> list[tuple[str, str]]:
    """(patient id, display name) of every record the account may open now: own record first."""
    grants = await active_grants(db, account)
    allowed = ([account.patient_id] if account.patient_id else []) + [g["patient"] for g in grants]
    resources = await patients_by_id(db, allowed)
    return [(pid, display_name(resources[pid]) or pid) for pid in allowed if pid in resources]


async def set_patient_in_view(request: Request, patient_id: str) -> None:
    raw = request.cookies.get(COOKIE)
    if raw:
        await services_of(request).db[SESSIONS].update_one({"_id": digest(raw)},
                                                           {"$set": {"patient_in_view": patient_id}})


async def viewing(request: Request, account: SignedIn) -> Viewing:
    grants = await active_grants(services_of(request).db, account)
    allowed = ([account.patient_id] if account.patient_id else []) + [g["patient"] for g in grants]
    if not allowed:
        raise HTTPException(403, "Your access to this record has ended. If you think this is a mistake, "
                                 "ask the patient to invite you again.")
    raw = request.cookies.get(COOKIE)
    session = await services_of(request).db[SESSIONS].find_one({"_id": digest(raw or "")},
                                                               projection={"patient_in_view": 1})
    chosen = (session or {}).get("patient_in_view")
    patient_id = chosen if chosen in allowed else allowed[0]
    live = [g for g in grants if g["patient"] == patient_id]
    trimmed = Account(**{**account.__dict__, "related_persons": live})
    caller = portal_caller(trimmed, patient_id)
    resources = await patients_by_id(services_of(request).db, allowed)
    if patient_id not in resources:
        raise FhirError(404, "not-found", "This record is not available.")
    choices = [(pid, display_name(resources[pid]) or pid) for pid in allowed if pid in resources]
    view = Viewing(account, patient_id, resources[patient_id], caller, choices)
    request.state.viewing = view  # the base template shows the "Viewing … record" banner
    return view


ViewingDep = Annotated[Viewing, Depends(viewing)]
