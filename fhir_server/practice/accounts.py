"""Adding, inviting and removing staff: the logic the ``carespace staff`` command and the
console's pages share (no HTTP here).

A staff member is linked to a Practitioner: an existing one given by id, else the one whose
``telecom`` carries their email (one indexed search), else a new one. Their invite is the
portal's single-use, 4-day link, of a kind only the console's registration page accepts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from fhir_server import timefmt
from fhir_server.portal import links
from fhir_server.portal.invites import mailer
from fhir_server.practice import staff
from fhir_server.practice.staff import Staff, StaffError
from fhir_server.resources import search as search_engine
from fhir_server.resources.errors import FhirError
from fhir_server.resources.search.scope import UNRESTRICTED
from fhir_server.resources.validation import validate
from fhir_server.services import Services

log = logging.getLogger("carespace.practice")


@dataclass(frozen=True)
class Added:
    staff: Staff
    practitioner_created: bool
    outbox: bool


async def _practitioner(services: Services, email: str, name: str, practitioner_id: str | None) -> tuple[str, bool]:
    """The Practitioner id for this staff member, and whether it was created now."""
    if practitioner_id:
        try:
            await services.store.read("Practitioner", practitioner_id)
        except FhirError:
            raise StaffError(f"There is no Practitioner/{practitioner_id}.") from None
        return practitioner_id, False
    bundle = await search_engine.search(services.db.db, "Practitioner", [("email", email), ("_count", "1")],
                                        base_url=services.settings.fhir_base, scope=UNRESTRICTED)
    found = [e["resource"] for e in bundle.get("entry", []) if e.get("search", {}).get("mode") == "match"]
    if found:
        return str(found[0]["id"]), False
    given, _, family = name.strip().rpartition(" ")
    human = {"text": name.strip(), "family": family or name.strip(), **({"given": given.split()} if given else {})}
    created = await services.store.create(validate({
        "resourceType": "Practitioner", "active": True, "name": [human],
        "telecom": [{"system": "email", "value": email, "use": "work"}]}, "Practitioner"))
    return created.id, True


async def add_staff(services: Services, *, email: str, name: str, role: str,
                    practitioner_id: str | None = None) -> Added:
    """Create the account (linked to its Practitioner) and mail the invite."""
    email = email.strip().lower()
    if await staff.find_by_email(services.db, email):
        raise StaffError(f"A staff account already uses {email}.")
    if role not in staff.STAFF_ROLES:
        raise StaffError(f"The role must be one of {', '.join(staff.STAFF_ROLES)}.")
    pid, created = await _practitioner(services, email, name, practitioner_id)
    member = await staff.create(services.db, email=email, name=name, role=role, practitioner_id=pid,
                                now=services.store.clock())
    outbox = await send_invite(services, member)
    return Added(member, created, outbox)


async def send_invite(services: Services, member: Staff) -> bool:
    """A new invite link (any older one stops working); True when it went to the outbox."""
    if member.password_hash:
        raise StaffError(f"{member.email} has already set a password; they can reset it from the sign-in page.")
    now = services.store.clock()
    token, link = await links.issue(services.db, links.STAFF_INVITE, member.id, member.email, now)
    url = f"{services.settings.base_url.rstrip('/')}/practice/register?token={token}"
    sender = mailer(services)
    await sender.send(member.email, "staff_invite", name=member.first_name, link=url, role=member.role,
                      expires=timefmt.moment(link.expires, services.settings.zone))
    log.info("staff invite stored and handed to the mailer")
    return sender.uses_outbox


async def send_reset(services: Services, member: Staff) -> None:
    now = services.store.clock()
    token, _ = await links.issue(services.db, links.STAFF_RESET, member.id, member.email, now)
    url = f"{services.settings.base_url.rstrip('/')}/practice/reset-password?token={token}"
    await mailer(services).send(member.email, "staff_reset", name=member.first_name, link=url)


async def reset_after_answer(services: Services, email: str) -> None:
    """Forgot password, after the page was sent (the same answer for known and unknown emails)."""
    try:
        member = await staff.find_by_email(services.db, email)
        if member and member.password_hash:
            await send_reset(services, member)
    except Exception:
        log.exception("a staff password-reset request could not be completed")


async def remove_staff(services: Services, email: str) -> Staff | None:
    """Delete the account, end its sessions at once and void its open links."""
    removed = await staff.remove(services.db, email)
    if removed:
        now = services.store.clock()
        for kind in (links.STAFF_INVITE, links.STAFF_RESET):
            await services.db[links.LINKS].update_many({"kind": kind, "subject": removed.id, "state": "open"},
                                                       {"$set": {"state": "replaced", "closed": now}})
    return removed
