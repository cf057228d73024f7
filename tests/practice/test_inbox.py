"""The care team's inbox: a patient's message arrives, a clinician answers as the practice, the
patient reads the answer in the portal (after the usual mail) and answers it once, and the
thread is marked done."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.portal.conftest import DESKTOP
from tests.portal.conftest import sign_in as portal_sign_in
from tests.portal.test_messages_support import member
from tests.practice.conftest import shot
from tests.support.portal import form_post
from tests.support.portal import sign_in as portal_client_sign_in
from tests.support.practice import into_browser


def test_a_staff_answer_reaches_the_patient_who_answers_once_and_the_thread_is_done(
        server: Any, admin: httpx.Client, smtp: Any, db: Any, browser: Browser, context: BrowserContext,
        page: Page, clinician: Any) -> None:
    staff, staff_client = clinician
    who = member(server, admin, smtp, given="Quinn")
    with portal_client_sign_in(server, *who.person.credentials) as patient:
        sent = form_post(patient, "/messages/new", {"category": "Rx", "subject": "Refill of ondansetron",
                                                    "body": "I have two tablets left."})
        assert sent.status_code == 303, sent.text
    asked_id = sent.headers["location"].split("/")[2].split("?")[0]

    into_browser(context, server, staff_client)
    page.goto("/practice/inbox")
    row = page.get_by_role("row").filter(has_text="Refill of ondansetron")
    expect(row).to_contain_text(who.person.name)
    expect(row).to_contain_text("Unread")
    expect(row).to_contain_text("Rx")
    page.get_by_label("Category").select_option("Health")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("row").filter(has_text="Refill of ondansetron")).to_have_count(0)
    page.get_by_label("Category").select_option("Rx")
    page.get_by_label("Show").select_option("unread")
    page.get_by_role("button", name="Filter").click()
    shot(page, "practice-inbox")
    page.get_by_role("link", name="Refill of ondansetron").click()

    expect(page.get_by_role("heading", name="Refill of ondansetron")).to_be_visible()
    expect(page.locator(".thread-card")).to_have_count(1)
    expect(page.locator(".thread-card .body")).to_have_text("I have two tablets left.")
    page.get_by_label("Your answer").fill("A new prescription is at your pharmacy.\nDr Okafor")
    page.get_by_role("button", name="Send answer").click()
    expect(page.get_by_role("status")).to_contain_text("Your answer was sent")
    shot(page, "practice-thread")

    asked = admin.get(f"/Communication/{asked_id}").json()
    assert asked["received"]  # opened by the practice
    answer = next(e["resource"] for e in admin.get("/Communication", params={
        "patient": who.person.patient_id, "_sort": "-sent", "_count": "1"}).json()["entry"])
    practitioner = db["staff"].find_one({"email": staff.email})["practitioner_id"]
    assert answer["sender"] == {"reference": f"Practitioner/{practitioner}", "display": staff.name}
    assert answer["about"] == [{"reference": f"Communication/{asked_id}"}]
    assert answer["recipient"][0]["reference"] == f"Patient/{who.person.patient_id}"
    assert answer["category"] == asked["category"] and answer["topic"] == asked["topic"]
    assert answer["payload"][0]["contentString"] == "A new prescription is at your pharmacy.\nDr Okafor"
    notice = smtp.wait_for(who.person.email, "You have a new message")
    assert "new prescription" not in notice.as_string()  # the mail says a message waits, never what it says
    events = admin.get("/AuditEvent", params={"patient": who.person.patient_id, "agent": f"Practitioner/{practitioner}",
                                              "_count": "50"}).json()
    assert {e["resource"]["subtype"][0]["code"] for e in events.get("entry", [])} >= {"create", "portal"}

    # The patient reads it in the portal and answers it, once.
    patient_context = browser.new_context(base_url=server.url, viewport=DESKTOP)
    try:
        patient_page = patient_context.new_page()
        portal_sign_in(patient_page, *who.person.credentials)
        patient_page.goto(f"/messages/{answer['id']}")
        expect(patient_page.locator(".msg-card .msg-text")).to_have_text(
            "A new prescription is at your pharmacy.\nDr Okafor")
        patient_page.get_by_label("Your reply").fill("Thank you, picked it up.")
        patient_page.get_by_role("button", name="Send reply").click()
        expect(patient_page.get_by_role("status")).to_have_text("Your reply was sent to your care team.")
        expect(patient_page.get_by_label("Your reply")).to_have_count(0)
    finally:
        patient_context.close()

    # The practice sees the whole conversation, not answered yet; marking it done files it away.
    page.goto(f"/practice/inbox/{asked_id}")
    expect(page.locator(".thread-card .body")).to_have_text(["I have two tablets left.",
                                                             "A new prescription is at your pharmacy.\nDr Okafor",
                                                             "Thank you, picked it up."])
    page.goto("/practice/inbox?state=unanswered")  # opened just now: read, and waiting for the practice
    expect(page.get_by_role("row").filter(has_text="Refill of ondansetron")).to_contain_text("Waiting for answer")
    page.get_by_role("link", name="Refill of ondansetron").click()
    page.get_by_role("button", name="Mark done").click()
    expect(page.get_by_role("status")).to_contain_text("marked done")
    expect(page.get_by_role("row").filter(has_text="Refill of ondansetron")).to_have_count(0)
    page.goto("/practice/inbox?state=done")
    expect(page.get_by_role("row").filter(has_text="Refill of ondansetron")).to_contain_text("Done")
    # The patient's page lists every conversation, also those older than the inbox shows.
    page.goto(f"/practice/patients/{who.person.patient_id}")
    expect(page.locator("#conversations li").filter(has_text="Refill of ondansetron")).to_contain_text("Done")


def test_an_empty_answer_is_refused_in_place_and_an_unknown_thread_is_not_found(
        server: Any, admin: httpx.Client, smtp: Any, clinician: Any) -> None:
    _, client = clinician
    who = member(server, admin, smtp, given="Rue")
    with portal_client_sign_in(server, *who.person.credentials) as patient:
        sent = form_post(patient, "/messages/new", {"category": "Health", "subject": "Rash", "body": "Itchy."})
    asked_id = sent.headers["location"].split("/")[2].split("?")[0]
    before = admin.get("/Communication", params={"patient": who.person.patient_id, "_summary": "count"}).json()
    empty = form_post(client, f"/practice/inbox/{asked_id}/reply", {"body": "   "})
    assert empty.status_code == 400 and "Write your message." in empty.text
    after = admin.get("/Communication", params={"patient": who.person.patient_id, "_summary": "count"}).json()
    assert after["total"] == before["total"]
    missing = client.get("/practice/inbox/no-such-message")
    assert missing.status_code == 404 and "We could not find that message" in missing.text
    forged = client.post(f"/practice/inbox/{asked_id}/reply", data={"body": "hello"})
    assert forged.status_code == 403
