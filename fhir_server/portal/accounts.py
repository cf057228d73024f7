"""Portal accounts: one per person who signs in (a patient or a delegate).

An account stores the email (normalised to lower case, unique), the argon2id hash of the
password, the birth date checked at sign-in, the person's own Patient (``patient_id``, None
for a delegate) and the patients they act for (``related_persons``: each a dict with
``patient``, ``related_person`` and ``consent`` ids), on which delegate access builds.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from fhir_server.db import ACCOUNTS, Database


class EmailInUse(Exception):
    """Another account already uses this email."""


def normalise_email(email: str) -> str:
    return email.strip().lower()


@dataclass
class Account:
    id: str
    email: str
    password_hash: str
    birth_date: str  # YYYY-MM-DD
    name: str
    kind: str  # "patient" | "delegate"
    patient_id: str | None
    related_persons: list[dict[str, Any]] = field(default_factory=list)
    created: datetime | None = None

    def to_doc(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["_id"] = doc.pop("id")
        return doc

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Account:
        values = {k: v for k, v in doc.items() if k in cls.__dataclass_fields__}
        return cls(id=doc["_id"], **values)

    @property
    def patients(self) -> list[str]:
        """Every patient whose portal this account may open (own record first)."""
        own = [self.patient_id] if self.patient_id else []
        return own + [r["patient"] for r in self.related_persons if r["patient"] not in own]

    @property
    def first_name(self) -> str:
        return self.name.split(" ")[0] if self.name else self.email


async def ensure_indexes(db: Database) -> None:
    await db[ACCOUNTS].create_indexes([
        IndexModel([("email", ASCENDING)], unique=True),
        IndexModel([("patient_id", ASCENDING)]),
        IndexModel([("related_persons.patient", ASCENDING)]),
        IndexModel([("related_persons.consent", ASCENDING)]),
    ])


async def find_by_email(db: Database, email: str) -> Account | None:
    doc = await db[ACCOUNTS].find_one({"email": normalise_email(email)})
    return Account.from_doc(doc) if doc else None


async def get(db: Database, account_id: str) -> Account | None:
    doc = await db[ACCOUNTS].find_one({"_id": account_id})
    return Account.from_doc(doc) if doc else None


async def find_for_patient(db: Database, patient_id: str) -> Account | None:
    doc = await db[ACCOUNTS].find_one({"patient_id": patient_id})
    return Account.from_doc(doc) if doc else None


async def create(db: Database, *, email: str, password_hash: str, birth_date: str, name: str, kind: str,
                 patient_id: str | None, related_persons: list[dict[str, Any]] | None,
                 now: datetime) -> Account:
    account = Account(id=str(uuid.uuid4()), email=normalise_email(email), password_hash=password_hash,
                      birth_date=birth_date, name=name, kind=kind, patient_id=patient_id,
                      related_persons=list(related_persons or []), created=now)
    try:
        await db[ACCOUNTS].insert_one(account.to_doc())
    except DuplicateKeyError:
        raise EmailInUse(account.email) from None
    return account


async def set_password(db: Database, account_id: str, password_hash: str) -> None:
    await db[ACCOUNTS].update_one({"_id": account_id}, {"$set": {"password_hash": password_hash}})
