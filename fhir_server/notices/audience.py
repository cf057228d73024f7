"""Who hears of news in a patient's record: the patient's own account and every family
member whose access is active right now — found in a fixed number of indexed queries for
any number of patients (never one query per resource)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhir_server.db import ACCOUNTS, Database
from fhir_server.portal import viewing
from fhir_server.portal.accounts import Account
from fhir_server.portal.invites import display_name

PREFERENCES = "notices"  # on the account: {kind: bool}; a kind not set is on


@dataclass(frozen=True)
class Recipient:
    account: Account
    patient_id: str
    patient_name: str | None  # set for a family member: whose record has news
    wants: dict[str, bool]

    def wants_kind(self, kind: str) -> bool:
        return self.wants.get(kind, True)


async def recipients(db: Database, patient_ids: set[str]) -> list[Recipient]:
    if not patient_ids:
        return []
    ids = sorted(patient_ids)
    own = [doc async for doc in db[ACCOUNTS].find({"patient_id": {"$in": ids}})]
    helpers = [doc async for doc in db[ACCOUNTS].find({"related_persons.patient": {"$in": ids}},
                                                      )]
    grants: list[tuple[dict[str, Any], dict[str, Any]]] = [
        (doc, grant) for doc in helpers for grant in doc.get("related_persons", [])
        if grant.get("patient") in patient_ids and grant.get("consent")]
    active = await viewing.active_consents(db, [grant["consent"] for _, grant in grants])
    grants = [(doc, grant) for doc, grant in grants if grant["consent"] in active]
    # The patients' names only when a family member will be told whose record has news: most
    # new results (every import, every EHR write) reach nobody, and a Patient is a large read.
    named = sorted({grant["patient"] for _, grant in grants})
    names = {pid: display_name(p) for pid, p in (await viewing.patients_by_id(db, named)).items()} if named else {}
    out = [Recipient(Account.from_doc(doc), str(doc["patient_id"]), None, doc.get(PREFERENCES) or {}) for doc in own]
    out += [Recipient(Account.from_doc(doc), grant["patient"], names.get(grant["patient"]) or "the patient",
                      doc.get(PREFERENCES) or {})
            for doc, grant in grants]
    return out


async def preferences(db: Database, account_id: str) -> dict[str, bool]:
    doc = await db[ACCOUNTS].find_one({"_id": account_id}, projection={PREFERENCES: 1})
    return (doc or {}).get(PREFERENCES) or {}


async def set_preferences(db: Database, account_id: str, wants: dict[str, bool]) -> None:
    await db[ACCOUNTS].update_one({"_id": account_id}, {"$set": {PREFERENCES: wants}})
