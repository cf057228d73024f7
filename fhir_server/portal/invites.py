"""Inviting a patient to register, and sending password-reset links: the logic that the CLI,
the ``$invite`` operation and the pages share (no HTTP here)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fhir_server import mail, timefmt
from fhir_server.portal import accounts, links
from fhir_server.portal.accounts import Account
from fhir_server.services import Services

log = logging.getLogger("carespace.portal")


class AlreadyRegistered(Exception):
    """The patient already has a portal account: nothing is sent."""


def display_name(resource: dict[str, Any]) -> str:
    """``Jane Doe`` from a Patient's or RelatedPerson's first name."""
    for name in resource.get("name") or []:
        if name.get("text"):
            return str(name["text"])
        parts = [*name.get("given", []), name.get("family", "")]
        if any(parts):
            return " ".join(p for p in parts if p)
    return ""


def mailer(services: Services) -> mail.Mailer:
    return mail.Mailer(services.settings, services.db)


def _when(services: Services, moment: datetime) -> str:
    return timefmt.moment(moment, services.settings.zone)


@dataclass(frozen=True)
class InviteSent:
    patient_id: str
    email: str
    resent: bool
    outbox: bool


async def invite_patient(services: Services, patient_id: str, email: str) -> InviteSent:
    """Store a new invite (killing any older one), then mail it in the background.

    Raises FhirError 404/410 for an unknown patient, AlreadyRegistered when they have an account.
    """
    version = await services.store.read("Patient", patient_id)
    assert version.resource is not None
    if await accounts.find_for_patient(services.db, patient_id):
        raise AlreadyRegistered(patient_id)
    email = accounts.normalise_email(email)
    if "@" not in email or len(email) > 254:
        raise ValueError("The email address does not look right.")
    now = services.store.clock()
    previous = await services.db[links.LINKS].count_documents(
        {"kind": links.INVITE, "subject": patient_id, "state": "open"})
    token, link = await links.issue(services.db, links.INVITE, patient_id, email, now, patient_id=patient_id)
    url = f"{services.settings.base_url.rstrip('/')}/register?token={token}"
    sender = mailer(services)
    await sender.send(email, "invite", name=display_name(version.resource) or "there", link=url,
                      expires=_when(services, link.expires))
    log.info("invite for Patient/%s stored and handed to the mailer", patient_id)
    return InviteSent(patient_id=patient_id, email=email, resent=previous > 0, outbox=sender.uses_outbox)


async def send_reset(services: Services, account: Account) -> None:
    now = services.store.clock()
    token, _ = await links.issue(services.db, links.RESET, account.id, account.email, now)
    url = f"{services.settings.base_url.rstrip('/')}/reset-password?token={token}"
    await mailer(services).send(account.email, "reset", name=account.first_name, link=url)


async def reset_after_answer(services: Services, email: str) -> None:
    """Forgot password, run after the page has been sent (a background task of the response):
    look the email up and mail a link, so that a registered and an unknown email cost the
    request the same and its answer time tells nothing (no timing oracle)."""
    try:
        account = await accounts.find_by_email(services.db, email)
        if account:
            await send_reset(services, account)
    except Exception:  # nobody is waiting for this answer: log it (never the address)
        log.exception("a password-reset request could not be completed")
