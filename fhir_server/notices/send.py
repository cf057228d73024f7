"""Sending the notices: once per write (the ``created_many`` write hook), for all the new
resources of that write together, so an import of 200 results costs a handful of queries and
sends each person one mail."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from fhir_server import mail
from fhir_server.access import Caller
from fhir_server.notices import audience, claims
from fhir_server.notices.kinds import Kind, news
from fhir_server.resources import hooks
from fhir_server.services import Services

log = logging.getLogger("carespace.notices")
TYPES = ("Observation", "DiagnosticReport", "DocumentReference")


async def deliver(services: Services, kind: Kind, patient_ids: set[str], link: str | None = None) -> int:
    """Mail everyone who should hear of ``kind`` news for these patients and has not had such a
    mail within the hour; how many were sent."""
    people = [r for r in await audience.recipients(services.db, patient_ids) if r.wants_kind(kind.key)]
    if not people:
        return 0
    mailer, now, sent = mail.Mailer(services.settings, services.db), datetime.now(UTC), 0
    url = link or f"{services.settings.base_url.rstrip('/')}{kind.link}"
    for person in people:
        if not await claims.claim(services.db, person.account.id, kind.key, now):
            continue
        context: dict[str, Any] = {"name": person.account.first_name, "link": url}
        if person.patient_name:
            context["patient_name"] = person.patient_name
        await mailer.send(person.account.email, kind.template, **context)
        sent += 1
    return sent


async def on_created(services: Services, caller: Caller, resources: list[dict[str, Any]]) -> None:
    if caller.patients is not None:  # written by a patient or their app: not news to them
        return
    for kind, patient_ids in news(resources, services.settings.fhir_base).items():
        sent = await deliver(services, kind, patient_ids)
        log.info("%d %s notice(s) for %d new resource(s)", sent, kind.key, len(resources))


HOOK = hooks.WriteHook(created_many=on_created)


def register() -> None:
    for resource_type in TYPES:
        hooks.register(resource_type, HOOK)
