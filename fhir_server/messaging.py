"""Secure messaging on the FHIR side: the reply rules for patient-scoped writers, and the
email notice a patient gets when the practice sends them a message.

Both are write hooks on Communication (``fhir_server.resources.hooks``), so the REST API
(create, update, patch, batch and transaction) enforces the same rules as the portal,
which calls ``check_communication`` itself before it stores a message.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fhir_server.access import Caller, search_scope
from fhir_server.db import insert_claim
from fhir_server.notices import send as notices
from fhir_server.notices.kinds import MESSAGE
from fhir_server.portal.messages import threads
from fhir_server.resources import hooks
from fhir_server.resources import search as search_engine
from fhir_server.resources.errors import FhirError
from fhir_server.resources.search import patient_compartments
from fhir_server.services import Services

log = logging.getLogger("carespace.messaging")


def _refuse(status: int, code: str, message: str, expression: str) -> FhirError:
    return FhirError(status, code, message, [expression])


async def check_communication(services: Services, caller: Caller, resource: dict[str, Any], interaction: str) -> None:
    """The patient side's rules (the practice, unrestricted, is free to write as it needs):
    a new message is sent as the patient or the person acting for them; a reply answers a
    practice message of the same patient's record, which is not itself a reply, once."""
    if caller.patients is None:
        return
    base = services.settings.fhir_base
    current = await services.store.find_current("Communication", str(resource.get("id", ""))) \
        if interaction == "u" else None
    if current is not None and current.resource is not None and not threads.is_patient_side(current.resource, base):
        _only_read_receipts(current.resource, resource)
    else:
        _sent_as_yourself(caller, resource, base)
    for parent_id in threads.parent_ids(resource, base):
        original = await services.store.find_current("Communication", parent_id) if "/" not in parent_id else None
        compartments = patient_compartments(original.resource, base) if original and original.resource else []
        if not original or not original.resource or not caller.patients.intersection(compartments):
            raise _refuse(422, "business-rule", f"Communication/{parent_id} is not a message in this patient's "
                          "record, so it cannot be replied to here.", "Communication.inResponseTo")
        replies = await _replies_to(services, caller, parent_id)
        reason = threads.reply_refusal(original.resource, replies, base_url=base, ignore_id=resource.get("id"))
        if reason:
            status = 409 if reason == threads.ALREADY_REPLIED else 422
            raise _refuse(status, "conflict" if status == 409 else "business-rule", reason,
                          "Communication.inResponseTo")
        if interaction == "c":
            await _claim_reply(services, parent_id)


REPLY_CLAIMS = "message_reply_claims"
CLAIM_LAPSES = timedelta(seconds=30)  # a claim whose write never happened (a failed transaction) lapses


async def _claim_reply(services: Services, parent_id: str) -> None:
    """Reply once, also for two replies at once: both may find no reply yet, but only one can
    insert the claim on the message (the database decides). A claim older than CLAIM_LAPSES
    with no reply stored (the check above found none) belonged to a write that failed."""
    claims, now = services.db[REPLY_CLAIMS], datetime.now(UTC)
    if await insert_claim(claims, {"_id": parent_id, "at": now, "owner": uuid.uuid4().hex}):
        return
    taken = await claims.update_one({"_id": parent_id, "at": {"$lt": now - CLAIM_LAPSES}}, {"$set": {"at": now}})
    if taken.matched_count != 1:
        raise _refuse(409, "conflict", threads.ALREADY_REPLIED, "Communication.inResponseTo")


# What a patient-side writer may change on a message the practice sent: marking it read.
READ_RECEIPT_FIELDS = ("meta", "received", "text")


def _sent_as_yourself(caller: Caller, resource: dict[str, Any], base: str) -> None:
    """A patient-side message names its writer as the sender: the patient, or the person acting
    for them. A display name alone ("Dr. …") would pass for the care team in the inbox."""
    assert caller.patients is not None
    yours = {f"Patient/{p}" for p in caller.patients} | ({caller.fhir_user} if caller.fhir_user else set())
    sender = threads.sender_of(resource, base)
    if sender not in yours:
        said = f"not {sender}" if sender else "and a sender display alone is not enough"
        raise _refuse(422, "business-rule", "A message written with this access must be sent as "
                      f"{' or '.join(sorted(yours))} (Communication.sender.reference), {said}.",
                      "Communication.sender")


def _only_read_receipts(current: dict[str, Any], resource: dict[str, Any]) -> None:
    def content(message: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in message.items() if k not in READ_RECEIPT_FIELDS}

    if content(current) != content(resource):
        raise _refuse(422, "business-rule", "A message from the care team can only be marked as read "
                      "(Communication.received) with this access.", "Communication")


async def _replies_to(services: Services, caller: Caller, message_id: str) -> list[dict[str, Any]]:
    """Every Communication that answers ``message_id`` (a message has a handful at most)."""
    bundle = await search_engine.search(
        services.db.db, "Communication", [("in-response-to", f"Communication/{message_id}"), ("_count", "100")],
        base_url=services.settings.fhir_base, scope=search_scope(caller, "Communication"))
    return [e["resource"] for e in bundle.get("entry", []) if e.get("search", {}).get("mode") == "match"]


async def notify_recipients(services: Services, caller: Caller, resource: dict[str, Any]) -> None:
    """A message from the practice (an unrestricted caller) to patients with a portal account:
    email them, and family with active access, that a message is waiting, with a link to it and
    never its content — through the notices' hourly limit and each person's choice."""
    if caller.patients is not None or resource.get("status") != "completed":
        return
    base = services.settings.fhir_base
    if threads.is_patient_side(resource, base):
        return
    link = f"{services.settings.base_url.rstrip('/')}/messages/{resource.get('id')}"
    patients = {r.removeprefix("Patient/") for r in threads.recipients_of(resource, base) if r.startswith("Patient/")}
    await notices.deliver(services, MESSAGE, patients, link=link)


HOOK = hooks.WriteHook(check=check_communication, created=notify_recipients)


def register() -> None:
    hooks.register("Communication", HOOK)
