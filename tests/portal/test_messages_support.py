"""Factories for the messaging tests (no tests here): a fresh patient with a portal account
and a care team, practice messages created through the API, and portal posts by hand."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from argon2 import PasswordHasher
from playwright.sync_api import BrowserContext

from fhir_server.portal.messages.threads import CATEGORY_SYSTEM
from tests.portal.conftest import Person, new_patient

PASSWORD = "Quiet-Harbour-77"
FHIR_JSON = {"Content-Type": "application/fhir+json"}


@dataclass
class Member:
    """A patient with a portal account and a care team."""

    person: Person
    care_team: str

    @property
    def patient_ref(self) -> str:
        return f"Patient/{self.person.patient_id}"


def member(admin: httpx.Client, db: Any, *, given: str = "Iris") -> Member:
    person = new_patient(admin, given=given, family="Messenger", birth_date="1975-03-09")
    hashed = PasswordHasher().hash(PASSWORD)  # the portal verifies any argon2id hash
    db["accounts"].insert_one({"_id": str(uuid.uuid4()), "email": person.email, "password_hash": hashed,
                               "birth_date": person.birth_date, "name": person.name, "kind": "patient",
                               "patient_id": person.patient_id, "related_persons": []})
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


def portal_client(server: Any, context: BrowserContext) -> tuple[httpx.Client, str]:
    """An HTTP client with the browser's session and CSRF cookies, and the CSRF token to post."""
    cookies = {c["name"]: c["value"] for c in context.cookies()}
    client = httpx.Client(base_url=server.url, cookies=cookies, timeout=30, follow_redirects=False)
    return client, cookies["carespace_csrf"]
