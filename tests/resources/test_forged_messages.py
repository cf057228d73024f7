"""No forged care-team mail (security review, issue 13, Medium 3): a patient-side writer's
Communication names its writer as the sender, and the inbox shows as care-team mail only what the
practice sent (a sender reference on the practice's side, not a display name)."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.portal.test_messages_support import FHIR_JSON, PASSWORD, member, practice_message


def message(patient_ref: str, care_team: str, *, sender: dict[str, str], text: str) -> dict[str, Any]:
    return {"resourceType": "Communication", "status": "completed", "subject": {"reference": patient_ref},
            "topic": {"text": "Your results"}, "sent": "2026-03-01T09:00:00Z", "sender": sender,
            "recipient": [{"reference": patient_ref}, {"reference": care_team}],
            "payload": [{"contentString": text}]}


def inbox_of(server: Any, email: str, birth_date: str) -> str:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
        assert csrf
        signed = client.post("/login", data={"email": email, "password": PASSWORD, "birth_date": birth_date,
                                             "csrf_token": csrf.group(1)})
        assert signed.status_code == 303, signed.text
        return client.get("/messages").text


def test_a_patient_side_writer_cannot_pass_for_the_care_team(server: Any, admin: httpx.Client, db: Any,
                                                             smtp: Any) -> None:
    who = member(server, admin, smtp, given="Forge")
    pid = who.person.patient_id
    delegate_ref = "RelatedPerson/forger-of-notes"
    for fhir_user in (who.patient_ref, delegate_ref):
        kind = {"fhirUser": fhir_user}
        with server.client("patient/Communication.cruds", patient=pid, **kind) as api:
            for sender in ({"display": "Dr. Emily Hart"}, {"reference": "Practitioner/emily-hart", "display": "Dr."},
                           {"reference": "RelatedPerson/someone-else"}):
                refused = api.post("/Communication", headers=FHIR_JSON,
                                   json=message(who.patient_ref, who.care_team, sender=sender, text="Forged"))
                assert refused.status_code == 422, (fhir_user, sender, refused.text)
                issue = refused.json()["issue"][0]
                assert issue["expression"] == ["Communication.sender"] and fhir_user in issue["diagnostics"]
            # Written as herself it goes through; rewriting it to a display-only sender does not.
            own = api.post("/Communication", headers=FHIR_JSON, json=message(
                who.patient_ref, who.care_team, sender={"reference": fhir_user}, text="From me"))
            assert own.status_code == 201, own.text
            forged = {**own.json(), "sender": {"display": "Dr. Emily Hart"}}
            assert api.put(f"/Communication/{forged['id']}", headers=FHIR_JSON, json=forged).status_code == 422
    stored = list(db["Communication"].find({"comp": pid, "res.payload.contentString": "Forged"}))
    assert stored == []


def test_the_inbox_shows_only_what_the_practice_sent(server: Any, admin: httpx.Client, db: Any, smtp: Any) -> None:
    who = member(server, admin, smtp, given="Inbox")
    pid = who.person.patient_id
    practice_message(admin, pid, subject="Real note from the clinic", text="See you Monday.")
    # Stored before the write rule existed (or by an integration that sends no reference).
    legacy = message(who.patient_ref, who.care_team, sender={"display": "Dr. Phantom"}, text="Send your card number")
    legacy["topic"] = {"text": "Urgent from your doctor"}
    assert admin.post("/Communication", headers=FHIR_JSON, json=legacy).status_code == 201
    page = inbox_of(server, who.person.email, who.person.birth_date)
    assert "Real note from the clinic" in page
    assert "Urgent from your doctor" not in page and "Dr. Phantom" not in page
