"""Messaging through the FHIR API: the practice's back-end client sends a message and the
patient gets an email notice (never the content); patient-scoped tokens obey the reply rules;
the practice finds what patients sent with ``Communication?recipient=…&status=…&_sort=-sent``."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.mailbox import Mailbox
from tests.portal.conftest import text_of
from tests.portal.test_messages_support import FHIR_JSON, Member, member, practice_message


def _reply(member: Member, to: dict[str, Any], text: str, *, sender: str | None = None,
           subject: str | None = None) -> dict[str, Any]:
    return {"resourceType": "Communication", "status": "completed", "inResponseTo": [
        {"reference": f"Communication/{to['id']}"}], "category": to["category"], "topic": to["topic"],
        "subject": {"reference": subject or member.patient_ref}, "sent": "2026-02-02T10:00:00Z",
        "sender": {"reference": sender or member.patient_ref}, "recipient": [{"reference": member.care_team}],
        "payload": [{"contentString": text}]}


@pytest.fixture
def patient_api(server: Any) -> Any:
    def client(who: Member) -> httpx.Client:
        return server.client("patient/Communication.cruds", patient=who.person.patient_id,
                             fhirUser=who.patient_ref)
    return client


def test_a_practice_message_emails_the_patient_a_link_and_never_the_content(
        server: Any, admin: httpx.Client, db: Any, smtp: Mailbox) -> None:
    who = member(server, admin, smtp, given="Nell")
    secret = "Your biopsy shows no sign of recurrence."
    with server.client("system/*.cruds") as practice:
        message = practice_message(practice, who.person.patient_id, subject="Biopsy result", text=secret)
    mail = smtp.wait_for(who.person.email, "You have a new message")
    body = text_of(mail)
    assert f"{server.url}/messages/{message['id']}" in body
    assert secret not in mail.as_string() and "Biopsy result" not in mail.as_string()


def test_a_patient_token_replies_once(admin: httpx.Client, db: Any, patient_api: Any, server: Any, smtp: Any) -> None:
    who = member(server, admin, smtp, given="Opal")
    message = practice_message(admin, who.person.patient_id, subject="Lab follow-up", text="Please call us.")
    with patient_api(who) as api:
        first = api.post("/Communication", headers=FHIR_JSON, json=_reply(who, message, "Calling tomorrow."))
        assert first.status_code == 201, first.text
        second = api.post("/Communication", headers=FHIR_JSON, json=_reply(who, message, "And again."))
        assert second.status_code == 409
        outcome = second.json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert "already been answered" in outcome["issue"][0]["diagnostics"]
        # The same through a transaction: refused before anything is written.
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": _reply(who, message, "Via a bundle."), "request": {"method": "POST", "url": "Communication"}}]}
        assert api.post("", headers=FHIR_JSON, json=bundle).status_code == 409
        # A reply to a reply (the patient's own) is refused.
        nested = api.post("/Communication", headers=FHIR_JSON, json=_reply(who, first.json(), "Hello?"))
        assert nested.status_code == 422
        assert "cannot be replied to" in nested.json()["issue"][0]["diagnostics"]
        # Updating the reply itself (e.g. a status change) is not a second reply.
        own = {**first.json(), "status": "completed"}
        assert api.put(f"/Communication/{own['id']}", headers=FHIR_JSON, json=own).status_code == 200
    replies = admin.get("/Communication", params={"in-response-to": f"Communication/{message['id']}"}).json()
    assert [e["resource"]["id"] for e in replies["entry"]] == [first.json()["id"]]


def test_a_patient_token_cannot_write_into_another_patients_thread(admin: httpx.Client, db: Any,
                                                                   patient_api: Any, server: Any, smtp: Any) -> None:
    who = member(server, admin, smtp, given="Ruth")
    other = member(server, admin, smtp, given="Sage")
    theirs = practice_message(admin, other.person.patient_id, subject="For Sage", text="Private.")
    with patient_api(who) as api:
        # Replying (in one's own record) to another patient's message: refused, naming no content.
        response = api.post("/Communication", headers=FHIR_JSON, json=_reply(who, theirs, "Hi"))
        assert response.status_code == 422
        assert "not a message in this patient's record" in response.json()["issue"][0]["diagnostics"]
        # Writing into the other patient's compartment: the one door refuses.
        response = api.post("/Communication", headers=FHIR_JSON,
                            json=_reply(who, theirs, "Hi", subject=other.patient_ref, sender=other.patient_ref))
        assert response.status_code == 403
        # Sending as the practice is refused too.
        mine = practice_message(admin, who.person.patient_id, subject="For Ruth", text="Hello Ruth.")
        response = api.post("/Communication", headers=FHIR_JSON,
                            json=_reply(who, mine, "Signed by the doctor", sender="Practitioner/emily-hart"))
        assert response.status_code == 422
        assert api.get(f"/Communication/{theirs['id']}").status_code == 404


def test_the_practice_searches_what_patients_sent_and_replies(admin: httpx.Client, db: Any,
                                                              patient_api: Any, server: Any, smtp: Any) -> None:
    who = member(server, admin, smtp, given="Tess")
    with patient_api(who) as api:
        for sent, subject in (("2026-02-01T09:00:00Z", "First question"), ("2026-02-05T09:00:00Z", "Second question")):
            new = {"resourceType": "Communication", "status": "completed", "topic": {"text": subject},
                   "subject": {"reference": who.patient_ref}, "sender": {"reference": who.patient_ref},
                   "recipient": [{"reference": who.care_team}], "sent": sent, "payload": [{"contentString": "?"}]}
            assert api.post("/Communication", headers=FHIR_JSON, json=new).status_code == 201
    found = admin.get("/Communication", params={"recipient": who.care_team, "status": "completed",
                                                "_sort": "-sent"}).json()
    subjects = [e["resource"]["topic"]["text"] for e in found["entry"]]
    assert subjects == ["Second question", "First question"]
    # The practice may answer a patient's message (the rules bind the patient side only).
    question = found["entry"][0]["resource"]
    answer = practice_message(admin, who.person.patient_id, subject="Second question", text="Yes.",
                              in_response_to=question["id"])
    assert answer["inResponseTo"][0]["reference"] == f"Communication/{question['id']}"


def test_a_patient_token_may_only_mark_a_practice_message_read(server) -> None:  # type: ignore[no-untyped-def]
    with server.client("system/*.cruds") as practice:
        message = practice.post("/Communication", json={
            "resourceType": "Communication", "status": "completed", "subject": {"reference": "Patient/maria-alvarez"},
            "sender": {"reference": "Practitioner/emily-hart"}, "recipient": [{"reference": "Patient/maria-alvarez"}],
            "topic": {"text": "Scan results"}, "payload": [{"contentString": "Your scan is clear."}]}).json()
    with server.client("patient/*.cruds", patient="maria-alvarez", fhirUser="Patient/maria-alvarez") as patient:
        read = patient.put(f"/Communication/{message['id']}", json={**message, "received": "2026-11-26T10:00:00Z"})
        assert read.status_code == 200, read.text
        forged = {**read.json(), "payload": [{"contentString": "Your scan shows nothing at all."}]}
        refused = patient.put(f"/Communication/{message['id']}", json=forged)
        assert refused.status_code == 422
        assert "only be marked as read" in refused.json()["issue"][0]["diagnostics"]
        current = patient.get(f"/Communication/{message['id']}").json()
        assert current["payload"][0]["contentString"] == "Your scan is clear."


def test_family_with_active_access_hear_of_a_new_message_too(server: Any, smtp: Mailbox, db: Any) -> None:
    # Notices are at most one per person per kind per hour: start Sophie's hour afresh, whatever
    # other tests of the session sent Jane before.
    sophie = db["accounts"].find_one({"email": "sophie.doe@example.org"})
    db["notice_claims"].delete_one({"_id": f"{sophie['_id']}:message"})
    before = len(smtp.to("sophie.doe@example.org"))
    with server.client("system/*.cruds") as practice:
        practice_message(practice, "jane-doe", subject="Appointment moved", text="Your visit is now at 3 pm.")
    notice = smtp.wait_for("sophie.doe@example.org", "You have a new message", after=before)
    body = text_of(notice)
    assert "Jane Doe's portal" in body and "/messages/" in body
    assert "3 pm" not in notice.as_string()
