"""Finding patients and their portal status, for the console's Patients pages (no HTTP here).

The search is one indexed FHIR search through the engine under the staff member's scope (name,
birth date and identifier are Patient search parameters). The portal status of a page of
patients takes three indexed queries whatever its size: their accounts, their open invites and
the sign-in locks of those accounts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fhir_server import timefmt, two_step
from fhir_server.access import Caller, search_scope
from fhir_server.db import ACCOUNTS
from fhir_server.portal import links, lockout
from fhir_server.portal.invites import display_name
from fhir_server.resources import search as search_engine
from fhir_server.resources.errors import FhirError
from fhir_server.services import Services

PAGE = 50
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Criteria:
    name: str = ""
    birth_date: str = ""
    identifier: str = ""

    @property
    def empty(self) -> bool:
        return not (self.name or self.birth_date or self.identifier)

    def problem(self) -> str | None:
        if self.birth_date and not DATE.match(self.birth_date):
            return "Enter the date of birth as a full date (day, month and year)."
        if len(self.name) > 100 or len(self.identifier) > 100:
            return "That search is too long."
        return None

    def params(self) -> list[tuple[str, str]]:
        params = [("name", self.name)] if self.name else []
        params += [("birthdate", f"eq{self.birth_date}")] if self.birth_date else []
        params += [("identifier", self.identifier)] if self.identifier else []
        return params


@dataclass(frozen=True)
class PortalStatus:
    state: str  # "registered" | "locked" | "invited" | "invite expired" | "not invited"
    detail: str = ""
    email: str = ""
    two_step: bool = False  # the account signs in with a one-time code too


@dataclass(frozen=True)
class Row:
    id: str
    name: str
    birth_date: str
    gender: str
    identifiers: list[str]
    status: PortalStatus


def identifiers_of(patient: dict[str, Any]) -> list[str]:
    shown = []
    for ident in patient.get("identifier") or []:
        label = ((ident.get("type") or {}).get("text") or
                 next((c.get("code") for c in (ident.get("type") or {}).get("coding") or [] if c.get("code")), ""))
        if ident.get("value"):
            shown.append(f"{label} {ident['value']}".strip())
    return shown


def email_of(patient: dict[str, Any]) -> str:
    return next((str(t["value"]) for t in patient.get("telecom") or [] if t.get("system") == "email"
                 and t.get("value")), "")


async def search(services: Services, caller: Caller, criteria: Criteria) -> list[dict[str, Any]]:
    """Up to PAGE patients matching every given criterion, by family name."""
    params = [*criteria.params(), ("_sort", "family,given"), ("_count", str(PAGE)), ("_total", "none")]
    try:
        bundle = await search_engine.search(services.db.db, "Patient", params, base_url=services.settings.fhir_base,
                                            scope=search_scope(caller, "Patient"))
    except FhirError as error:
        if error.status != 400:
            raise
        return []
    return [e["resource"] for e in bundle.get("entry", []) if e.get("search", {}).get("mode") == "match"]


async def portal_status(services: Services, patient_ids: list[str]) -> dict[str, PortalStatus]:
    db, now = services.db, services.store.clock()
    accounts = {d["patient_id"]: d async for d in db[ACCOUNTS].find({"patient_id": {"$in": patient_ids}},
                                                                      projection={"patient_id": 1, "email": 1,
                                                                                  "two_step.enabled": 1})}
    invites: dict[str, dict[str, Any]] = {}
    async for doc in db[links.LINKS].find({"kind": links.INVITE, "subject": {"$in": patient_ids}, "state": "open"},
                                          projection={"subject": 1, "expires": 1, "email": 1}):
        invites[doc["subject"]] = doc
    emails = [str(a["email"]) for a in accounts.values()]
    locked = {d["_id"]: d["locked_until"] async for d in db[lockout.ATTEMPTS].find(
        {"_id": {"$in": emails}, "locked_until": {"$gt": now}}, projection={"locked_until": 1})}
    found = {}
    for pid in patient_ids:
        account = accounts.get(pid)
        invite = invites.get(pid)
        expires = timefmt.day(invite["expires"], services.settings.zone) if invite else ""
        if account and account["email"] in locked:
            until = timefmt.moment(locked[account["email"]], services.settings.zone)
            found[pid] = PortalStatus("locked", f"sign-in paused until {until}", account["email"],
                                      two_step.is_enabled(account))
        elif account:
            found[pid] = PortalStatus("registered", "", account["email"], two_step.is_enabled(account))
        elif invite and invite["expires"] > now:
            found[pid] = PortalStatus("invited", f"link valid until {expires}", invite["email"])
        elif invite:
            found[pid] = PortalStatus("invite expired", f"expired {expires}", invite["email"])
        else:
            found[pid] = PortalStatus("not invited")
    return found


async def rows(services: Services, patients: list[dict[str, Any]]) -> list[Row]:
    statuses = await portal_status(services, [str(p["id"]) for p in patients])
    return [Row(id=str(p["id"]), name=display_name(p) or "Unnamed patient", birth_date=str(p.get("birthDate", "")),
                gender=str(p.get("gender", "")), identifiers=identifiers_of(p), status=statuses[str(p["id"])])
            for p in patients]
