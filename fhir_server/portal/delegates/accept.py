"""An invite becomes access: the Consent turns ``active`` and the account carries the grant.

A brand-new delegate registers from the link (``routes_auth.register`` calls
``on_registration``); a person who already has an account signs in and accepts the invite
into that same account (``into_account``). Both act as the delegate, on the patient's
behalf, so the AuditEvent names who accepted.
"""

from __future__ import annotations

import logging
from typing import Any

from fhir_server import audit
from fhir_server.access import Caller, check_resource, check_write
from fhir_server.db import ACCOUNTS
from fhir_server.portal import links
from fhir_server.portal.accounts import Account
from fhir_server.portal.caller import FULL_ACCESS
from fhir_server.resources.errors import FhirError
from fhir_server.resources.search import patient_compartments
from fhir_server.resources.store import instant
from fhir_server.resources.validation import validate
from fhir_server.services import Services

log = logging.getLogger("carespace.portal")


class InviteWithdrawn(Exception):
    """The patient revoked the invite (or it was accepted already)."""


def delegate_caller(account_id: str, data: dict[str, Any]) -> Caller:
    patient_id = data["patient_id"]
    return Caller(kind="delegate", subject=account_id, grants=FULL_ACCESS, patients=frozenset({patient_id}),
                  fhir_user=f"RelatedPerson/{data['related_person']}", on_behalf_of=patient_id,
                  claims={"consent": data.get("consent")})


async def activate(services: Services, account_id: str, data: dict[str, Any]) -> None:
    """proposed → active (with the period's start); anything else means the invite is gone."""
    consent_id = str(data.get("consent") or "")
    caller = delegate_caller(account_id, data)
    try:
        version = await services.store.read("Consent", consent_id)
    except FhirError:
        raise InviteWithdrawn(consent_id) from None
    consent = version.resource or {}
    if consent.get("status") != "proposed":
        raise InviteWithdrawn(consent_id)
    base = services.settings.fhir_base
    check_resource(caller, "Consent", consent_id, patient_compartments(consent, base), "u")
    provision = {**consent.get("provision", {})}
    provision["period"] = {**provision.get("period", {}), "start": instant(services.store.clock())}
    updated = validate({**consent, "status": "active", "provision": provision})
    check_write(caller, "Consent", patient_compartments(updated, base), "u")
    await services.store.update(updated, consent_id, if_match=version.vid)
    await audit.record(services.store, caller, "update", patients=[data["patient_id"]],
                       entities=[f"Consent/{consent_id}", f"RelatedPerson/{data['related_person']}"],
                       description="delegate invite accepted")


async def on_registration(services: Services, account: Account, data: dict[str, Any]) -> None:
    """A new delegate account was just created from the link: its grant starts now."""
    try:
        await activate(services, account.id, data)
    except InviteWithdrawn:
        log.warning("a delegate registered from an invite that was withdrawn meanwhile")


async def into_account(services: Services, account: Account, link: links.Link) -> str:
    """Use the link up and add the grant to this existing account; returns the patient id."""
    data = link.data
    consent = await services.store.find_current("Consent", str(data.get("consent") or ""))
    if consent is None or (consent.resource or {}).get("status") != "proposed":
        raise InviteWithdrawn(str(data.get("consent")))
    await links.redeem(services.db, link.id, links.INVITE, services.store.clock())
    await activate(services, account.id, data)
    grant = {"patient": data["patient_id"], "related_person": data["related_person"], "consent": data["consent"]}
    # One grant per patient: an older (revoked) one for the same patient is replaced.
    kept = [g for g in account.related_persons if g.get("patient") != grant["patient"]]
    await services.db[ACCOUNTS].update_one({"_id": account.id}, {"$set": {"related_persons": [*kept, grant]}})
    return str(data["patient_id"])
