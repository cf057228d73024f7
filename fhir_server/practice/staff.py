"""Staff accounts of the practice console: one per member of the care team.

Kept apart from patients' portal accounts (their own collection, their own sessions). A staff
member has a role (``access.STAFF_ROLES``), a Practitioner (the sender of their messages and
the agent of their AuditEvents), an argon2id password hash once they have followed their
invite, and the required two-step secret (``fhir_server.two_step``) once they have set it up.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from fhir_server.access import STAFF_ROLES, Caller, staff_caller
from fhir_server.db import Database
from fhir_server.portal.accounts import normalise_email

__all__ = ["STAFF_ROLES", "Staff", "StaffError"]

STAFF = "staff"
STAFF_SESSIONS = "staff_sessions"


class StaffError(Exception):
    """A staff change that cannot be made; the message says why, for the CLI or the page."""


@dataclass(frozen=True)
class Staff:
    id: str
    email: str
    name: str
    role: str
    practitioner_id: str | None
    password_hash: str | None
    two_step_on: bool
    created: datetime | None

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Staff:
        return cls(id=doc["_id"], email=doc["email"], name=doc.get("name", ""), role=doc["role"],
                   practitioner_id=doc.get("practitioner_id"), password_hash=doc.get("password_hash"),
                   two_step_on=bool((doc.get("two_step") or {}).get("secret")), created=doc.get("created"))

    @property
    def status(self) -> str:
        """invited (no password yet), setting up (no two-step yet) or active."""
        if not self.password_hash:
            return "invited"
        return "active" if self.two_step_on else "setting up"

    @property
    def caller(self) -> Caller:
        return staff_caller(self.id, self.role, self.practitioner_id)

    @property
    def first_name(self) -> str:
        return self.name.split(" ")[0] if self.name else self.email


async def ensure_indexes(db: Database) -> None:
    await db[STAFF].create_indexes([IndexModel([("email", ASCENDING)], unique=True)])
    await db[STAFF_SESSIONS].create_indexes([
        IndexModel([("account_id", ASCENDING)]),
        IndexModel([("absolute_expiry", ASCENDING)], expireAfterSeconds=0),
    ])


async def create(db: Database, *, email: str, name: str, role: str, practitioner_id: str | None,
                 now: datetime) -> Staff:
    email = normalise_email(email)
    if role not in STAFF_ROLES:
        raise StaffError(f"The role must be one of {', '.join(STAFF_ROLES)}.")
    if "@" not in email or len(email) > 254 or any(c.isspace() for c in email):
        raise StaffError("The email address does not look right.")
    if not name.strip():
        raise StaffError("A staff member needs a name.")
    doc = {"_id": str(uuid.uuid4()), "email": email, "name": name.strip(), "role": role,
           "practitioner_id": practitioner_id, "password_hash": None, "created": now}
    try:
        await db[STAFF].insert_one(doc)
    except DuplicateKeyError:
        raise StaffError(f"A staff account already uses {email}.") from None
    return Staff.from_doc(doc)


async def get(db: Database, staff_id: str) -> Staff | None:
    doc = await db[STAFF].find_one({"_id": staff_id})
    return Staff.from_doc(doc) if doc else None


async def find_by_email(db: Database, email: str) -> Staff | None:
    doc = await db[STAFF].find_one({"email": normalise_email(email)})
    return Staff.from_doc(doc) if doc else None


async def list_all(db: Database) -> list[Staff]:
    return [Staff.from_doc(d) async for d in db[STAFF].find({}).sort("email", ASCENDING)]


async def set_password(db: Database, staff_id: str, password_hash: str) -> None:
    await db[STAFF].update_one({"_id": staff_id}, {"$set": {"password_hash": password_hash}})


async def set_two_step(db: Database, staff_id: str, enrolment: dict[str, Any]) -> bool:
    """Store the two-step enrolment once (a second confirmation in another tab changes nothing)."""
    result = await db[STAFF].update_one({"_id": staff_id, "two_step.secret": None}, {"$set": {"two_step": enrolment}})
    return result.modified_count == 1


async def remove(db: Database, email: str) -> Staff | None:
    """Delete the account and every session it has, at once (the next request is signed out)."""
    found = await find_by_email(db, email)
    if found is None:
        return None
    await db[STAFF].delete_one({"_id": found.id})
    await db[STAFF_SESSIONS].delete_many({"account_id": found.id})
    return found
