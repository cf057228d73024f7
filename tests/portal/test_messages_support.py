"""Factories for the messaging tests (no tests here): a fresh patient with a portal account
and a care team, practice messages created through the API, and portal posts by hand."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from fhir_server.portal.messages.threads import CATEGORY_SYSTEM
from tests.mailbox import Mailbox
from tests.support.portal import FHIR_JSON, PASSWORD, Person, portal_client, registered_patient

__all__ = ["FHIR_JSON", "PASSWORD", "Member", "member", "portal_client", "practice_message"]


@dataclass
class Member:
    """A patient with a portal account and a care team."""

    person: Person
    care_team: str

    @property
    def patient_ref(self) -> str:
        return f"Patient/{self.person.patient_id}"


def member(server: Any, admin: httpx.Client, smtp: Mailbox, *, given: str = "Iris") -> Member:
    """Registered the way people register (invite mail, link, password form)."""
    person = registered_patient(server, admin, smtp, given=given, family="Messenger", birth_date="1975-03-09")
    team = admin.post("/CareTeam", headers=FHIR_JSON, json={
        "resourceType": "CareTeam", "status": "active", "name": f"{person.name} - oncology care team",
        "subject": {"reference": f"Patient/{person.patient_id}"},
        "participant": [{"member": {"reference": "Practitioner/emily-hart", "display": "Emily Hart, MD"}}]})
    assert team.status_code == 201, team.text
    return Member(person, f"CareTeam/{team.json()['id']}")


def practice_message(admin: httpx.Client, patient_id: str, *, subject: str, text: str, category: str = "health",
                     sent: str = "2026-01-10T15:00:00Z", sender: str = "Practitioner/emily-hart",
                     sender_display: str | None = "Emily Hart, MD", in_response_to: str | None = None
                     ) -> dict[str, Any]:
    """A message from the practice to the patient, created the way the EHR does (back-end token)."""
    resource: dict[str, Any] = {
        "resourceType": "Communication", "status": "completed",
        "category": [{"coding": [{"system": CATEGORY_SYSTEM, "code": category, "display": category.title()}]}],
        "subject": {"reference": f"Patient/{patient_id}"}, "topic": {"text": subject}, "sent": sent,
        "recipient": [{"reference": f"Patient/{patient_id}"}],
        "sender": {"reference": sender, **({"display": sender_display} if sender_display else {})},
        "payload": [{"contentString": text}]}
    if in_response_to:
        resource["inResponseTo"] = [{"reference": f"Communication/{in_response_to}"}]
    response = admin.post("/Communication", headers=FHIR_JSON, json=resource)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


