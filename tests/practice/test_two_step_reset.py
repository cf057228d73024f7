"""A patient who lost their phone and their recovery codes calls the practice: the front desk
checks who they are and turns the second step off from the patient's page. The patient is told
by mail, signs in with email, password and birth date again, and the change is audited."""

from __future__ import annotations

from typing import Any

import httpx

from tests.mailbox import Mailbox
from tests.support.mail import text_of
from tests.support.portal import csrf_of, enrol, form_post, registered_patient, sign_in


def test_the_front_desk_turns_off_a_patients_lost_second_step(server: Any, admin: httpx.Client, smtp: Mailbox,
                                                             db: Any, front_desk: Any) -> None:
    person = registered_patient(server, admin, smtp, given="Pia", family="Lostphone", birth_date="1966-04-12")
    with sign_in(server, *person.credentials) as client:
        enrol(client)
    smtp.wait_for(person.email, "turned on")
    _, desk = front_desk
    page = desk.get(f"/practice/patients/{person.patient_id}")
    assert "Two-step sign-in: on" in page.text and "Turn off two-step sign-in" in page.text

    unconfirmed = form_post(desk, f"/practice/patients/{person.patient_id}/two-step/off")
    assert unconfirmed.status_code == 400 and "checked the patient&#39;s identity" in unconfirmed.text
    assert db["accounts"].find_one({"email": person.email}).get("two_step")

    done = form_post(desk, f"/practice/patients/{person.patient_id}/two-step/off", {"identity_checked": "yes"})
    assert done.status_code == 303 and done.headers["location"].endswith("notice=two-step-off#portal")
    assert "two_step" not in db["accounts"].find_one({"email": person.email})
    assert "sign in with your email, password and date of birth only" in text_of(smtp.wait_for(person.email,
                                                                                               "turned off"))
    again = form_post(desk, f"/practice/patients/{person.patient_id}/two-step/off", {"identity_checked": "yes"})
    assert again.status_code == 409 and "not on for this patient" in again.text

    with httpx.Client(base_url=server.url, timeout=30) as client:  # straight in, no code asked
        signed = client.post("/login", data={"email": person.email, "password": person.password,
                                             "birth_date": person.birth_date, "csrf_token": csrf_of(client)})
        assert signed.status_code == 303 and signed.headers["location"] == "/health"
    events = admin.get("/AuditEvent", params={"patient": person.patient_id, "_sort": "-date", "_count": "50"}).json()
    said = [e["resource"].get("outcomeDesc", "")
            for e in events.get("entry", [])]
    assert any("Two-step sign-in turned off by the practice" in s for s in said), said
