"""Who has access to a patient's record, and the patient's invite, resend and revoke (no HTTP).

Everything goes through the FHIR store and the one door with the patient's own caller, and
each change is audited. An invite's link has the subject ``RelatedPerson/<id>``, so that a
resend replaces exactly that person's older link.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fhir_server import audit, timefmt
from fhir_server.access import Caller, check_resource, check_write, search_scope
from fhir_server.db import ACCOUNTS
from fhir_server.portal import accounts, links
from fhir_server.portal.delegates import resources as shapes
from fhir_server.portal.forms import Problem
from fhir_server.portal.invites import display_name, mailer
from fhir_server.resources.errors import FhirError, not_found
from fhir_server.resources.search import patient_compartments, search
from fhir_server.resources.store import instant
from fhir_server.resources.validation import validate
from fhir_server.services import Services

log = logging.getLogger("carespace.portal")
PRACTICE_ORGANIZATION = "riverbend-oncology"
SHOWN = ("active", "proposed")  # revoked grants (inactive, rejected) leave the list


class InviteProblem(Exception):
    """What is wrong with the invite form, in words for the patient."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Grant:
    consent_id: str
    person_id: str
    name: str
    email: str
    relationship: str
    status: str  # "active" | "invited" | "expired"

    @property
    def label(self) -> str:
        return self.name or self.email


def link_subject(person_id: str) -> str:
    return f"RelatedPerson/{person_id}"


async def _search_all(services: Services, caller: Caller, resource_type: str,
                      params: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Every match, following the searchset's next links."""
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = await search(services.db.db, resource_type, params + ([("_cursor", cursor)] if cursor else []),
                            base_url=services.settings.fhir_base, scope=search_scope(caller, resource_type))
        found += [e["resource"] for e in page.get("entry") or [] if e.get("search", {}).get("mode") != "include"]
        nxt = next((ln["url"] for ln in page.get("link") or [] if ln.get("relation") == "next"), None)
        cursor = parse_qs(urlsplit(nxt).query).get("_cursor", [None])[0] if nxt else None
        if not cursor:
            return found


async def _account_grants(services: Services, patient_id: str) -> dict[str, tuple[str, str]]:
    """Consent id -> (RelatedPerson id, account email) of every account holding a grant to this
    patient (one indexed query): a grant stays listed even if the resources around it change."""
    found = services.db[ACCOUNTS].find({"related_persons.patient": patient_id},
                                       projection={"email": 1, "related_persons": 1})
    return {str(g["consent"]): (str(g.get("related_person") or ""), str(doc.get("email") or ""))
            async for doc in found for g in doc.get("related_persons") or []
            if g.get("patient") == patient_id and g.get("consent")}


def _actor_display(consent: dict[str, Any]) -> str:
    for actor in (consent.get("provision") or {}).get("actor") or []:
        display = (actor.get("reference") or {}).get("display")
        if display:
            return str(display)
    return ""


async def list_grants(services: Services, caller: Caller, patient_id: str, *, audited: bool = True) -> list[Grant]:
    """Everyone with access or a pending invite, oldest first (one audit event when shown on a page).

    A Consent an account's access rests on is listed even when its RelatedPerson was deleted or
    changed, so that the patient can always see and revoke it."""
    consents = await _search_all(services, caller, "Consent", [("patient", patient_id), ("_count", "500")])
    people = {p["id"]: p for p in await _search_all(services, caller, "RelatedPerson",
                                                    [("patient", patient_id), ("_count", "500")])}
    held = await _account_grants(services, patient_id)
    pending = [c for c in consents if c.get("status") == "proposed"]
    open_links = services.db[links.LINKS].find(
        {"kind": links.INVITE, "state": "open",
         "subject": {"$in": [link_subject(shapes.actor_of(c) or "") for c in pending]}},
        projection={"subject": 1, "expires": 1})
    now = services.store.clock()
    live = {doc["subject"] async for doc in open_links if doc["expires"] > now}
    grants = []
    for c in sorted(consents, key=lambda c: str(c.get("dateTime", ""))):
        if c.get("status") not in SHOWN:
            continue
        person_id, account_email = held.get(c["id"], (shapes.actor_of(c) or "", ""))
        person = people.get(person_id)
        if person is None and c["id"] not in held:
            continue  # not a delegate grant, or an invite whose invitee no longer exists
        person = person or {}
        status = "active" if c["status"] == "active" else (
            "invited" if link_subject(person_id) in live else "expired")
        grants.append(Grant(c["id"], person_id, display_name(person) or _actor_display(c),
                            shapes.email_of(person) or account_email, shapes.relationship_label(person), status))
    if audited:
        await audit.record(services.store, caller, "portal", patients=[patient_id],
                           entities=[f"Consent/{g.consent_id}" for g in grants]
                           + [f"RelatedPerson/{g.person_id}" for g in grants if g.person_id])
    return grants


def check_form(*, email: str, birth_date: str, name: str, relationship: str, today: date) -> list[str]:
    problems = []
    email = accounts.normalise_email(email)
    local, _, domain = email.partition("@")
    if not local or "." not in domain or len(email) > 254 or any(c.isspace() for c in email):
        problems.append(Problem("Enter the person's email address, like name@example.com.", "invite-email"))
    try:
        born = date.fromisoformat(birth_date.strip())
        if born > today or born.year < 1900:
            problems.append(Problem("Enter the person's date of birth: a date in the past.", "invite-birth-date"))
    except ValueError:
        problems.append(Problem("Enter the person's date of birth.", "invite-birth-date"))
    if len(name) > 200:
        problems.append(Problem("The name is too long.", "invite-name"))
    if relationship and relationship not in shapes.RELATIONSHIPS:
        problems.append(Problem("Choose a relationship from the list.", "invite-relationship"))
    return problems


async def _organization(services: Services, patient: dict[str, Any]) -> tuple[str | None, str | None]:
    ref = str((patient.get("managingOrganization") or {}).get("reference") or "")
    org_id = ref.split("/", 1)[1] if ref.startswith("Organization/") else PRACTICE_ORGANIZATION
    found = await services.store.find_current("Organization", org_id)
    if found is None or found.resource is None:
        return None, None
    return org_id, found.resource.get("name")


async def invite(services: Services, caller: Caller, patient: dict[str, Any], *, email: str, birth_date: str,
                 name: str, relationship: str, account_email: str) -> Grant:
    """Create the RelatedPerson and the proposed Consent, then mail the invite link."""
    name, relationship = " ".join(name.split()), relationship.strip()
    problems = check_form(email=email, birth_date=birth_date, name=name, relationship=relationship,
                          today=services.store.clock().date())
    email = accounts.normalise_email(email)
    if not problems and email == accounts.normalise_email(account_email):
        problems.append("That is your own email address. Enter the email of the person you want to invite.")
    if not problems:
        existing = await list_grants(services, caller, patient["id"], audited=False)
        same = next((g for g in existing if g.email.lower() == email), None)
        if same:
            problems.append(f"{same.label} already has access to your record." if same.status == "active"
                            else f"{same.label} already has an invitation. You can resend it from the list.")
    if problems:
        raise InviteProblem(problems)
    base = services.settings.fhir_base
    patient_name = display_name(patient)
    person = validate(shapes.related_person(patient["id"], patient_name, email=email, birth_date=birth_date.strip(),
                                            name=name, relationship=relationship or None))
    check_write(caller, "RelatedPerson", patient_compartments(person, base), "c")
    person_version = await services.store.create(person)
    org_id, org_name = await _organization(services, patient)
    grant = validate(shapes.consent(patient["id"], patient_name, person_version.id, name or email,
                                    organization=org_id, organization_name=org_name,
                                    now=instant(services.store.clock())))
    check_write(caller, "Consent", patient_compartments(grant, base), "c")
    consent_version = await services.store.create(grant)
    await audit.record(services.store, caller, "create", patients=[patient["id"]],
                       entities=[f"RelatedPerson/{person_version.id}", f"Consent/{consent_version.id}"])
    result = Grant(consent_version.id, person_version.id, name, email,
                   shapes.relationship_label(person), "invited")
    await send_invite(services, patient_name, result)
    return result


async def send_invite(services: Services, patient_name: str, grant: Grant) -> None:
    """A new link for this person (any older one stops working), mailed to them."""
    now = services.store.clock()
    patient_id = await _patient_of(services, grant.consent_id)
    token, link = await links.issue(services.db, links.INVITE, link_subject(grant.person_id), grant.email, now,
                                    patient_id=patient_id, related_person=grant.person_id,
                                    consent=grant.consent_id)
    url = f"{services.settings.base_url.rstrip('/')}/register?token={token}"
    expires = timefmt.moment(link.expires, services.settings.zone)
    await mailer(services).send(grant.email, "delegate_invite", name=grant.name or "there",
                                patient_name=patient_name, link=url, expires=expires)
    log.info("delegate invite for Consent/%s stored and handed to the mailer", grant.consent_id)


async def _patient_of(services: Services, consent_id: str) -> str:
    version = await services.store.read("Consent", consent_id)
    ref = str(((version.resource or {}).get("patient") or {}).get("reference") or "")
    return ref.split("/", 1)[1]


async def find(services: Services, caller: Caller, patient_id: str, consent_id: str) -> Grant:
    """One of the patient's shown grants by Consent id; a foreign or revoked one is a 404."""
    version = await services.store.read("Consent", consent_id)
    assert version.resource is not None
    check_resource(caller, "Consent", consent_id, patient_compartments(version.resource, services.settings.fhir_base),
                   "r")
    shown = await list_grants(services, caller, patient_id, audited=False)
    grant = next((g for g in shown if g.consent_id == consent_id), None)
    if grant is None:
        raise not_found("Consent", consent_id)
    return grant


async def resend(services: Services, caller: Caller, patient: dict[str, Any], consent_id: str) -> Grant:
    grant = await find(services, caller, patient["id"], consent_id)
    if grant.status == "active":
        raise InviteProblem([f"{grant.label} has already accepted the invitation."])
    await send_invite(services, display_name(patient), grant)
    await audit.record(services.store, caller, "operation", patients=[patient["id"]],
                       entities=[f"Consent/{consent_id}"], description="delegate invite resent")
    return grant


async def _update(services: Services, caller: Caller, resource_type: str, resource_id: str, change: dict[str, Any],
                  ) -> None:
    version = await services.store.read(resource_type, resource_id)
    assert version.resource is not None
    base = services.settings.fhir_base
    check_resource(caller, resource_type, resource_id, patient_compartments(version.resource, base), "u")
    resource = validate({**version.resource, **change})
    check_write(caller, resource_type, patient_compartments(resource, base), "u")
    await services.store.update(resource, resource_id, if_match=version.vid)


async def revoke(services: Services, caller: Caller, patient_id: str, consent_id: str) -> Grant:
    """Access ends at once: the Consent is what every request, token and refresh checks."""
    grant = await find(services, caller, patient_id, consent_id)
    now = instant(services.store.clock())
    consent_now = (await services.store.read("Consent", consent_id)).resource or {}
    provision = {**consent_now.get("provision", {})}
    if grant.status == "active":
        provision["period"] = {**provision.get("period", {}), "end": now}
    await _update(services, caller, "Consent", consent_id,
                  {"status": "inactive" if grant.status == "active" else "rejected", "provision": provision})
    try:
        await _update(services, caller, "RelatedPerson", grant.person_id or "-", {"active": False})
    except FhirError:  # deleted or moved by the practice: access rests on the Consent, revoked above
        log.warning("revoked Consent/%s whose RelatedPerson is no longer this patient's", consent_id)
    # A pending invite's link dies with it; an account drops the grant so no list offers it again.
    await services.db[links.LINKS].delete_many({"kind": links.INVITE, "subject": link_subject(grant.person_id),
                                                "state": "open"})
    await services.db[ACCOUNTS].update_many({"related_persons.consent": consent_id},
                                            {"$pull": {"related_persons": {"consent": consent_id}}})
    await audit.record(services.store, caller, "update", patients=[patient_id],
                       entities=[f"Consent/{consent_id}", f"RelatedPerson/{grant.person_id}"],
                       description="delegate access revoked")
    return grant


async def label_of(services: Services, caller: Caller, consent_id: str) -> str | None:
    """The name (or email) of the person a Consent of this patient names, revoked or not."""
    try:
        found = (await services.store.read("Consent", consent_id)).resource or {}
        base = services.settings.fhir_base
        check_resource(caller, "Consent", consent_id, patient_compartments(found, base), "r")
        person = (await services.store.read("RelatedPerson", shapes.actor_of(found) or "-")).resource or {}
        check_resource(caller, "RelatedPerson", person.get("id", ""), patient_compartments(person, base), "r")
    except FhirError:
        return None
    return display_name(person) or shapes.email_of(person) or None
