"""The Messages tab in a real browser: read (unread → read), reply once, a second reply
refused by the server, compose with each category, the sent folder, a delegate's reply."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import BrowserContext, Page, expect

from tests.portal.conftest import shot, sign_in
from tests.portal.test_messages_support import PASSWORD, member, portal_client, practice_message


def test_inbox_lists_unread_and_opening_marks_read(page: Page, server: Any, admin: httpx.Client, db: Any,
                                                   smtp: Any) -> None:
    who = member(server, admin, smtp, given="Olive")
    older = practice_message(admin, who.person.patient_id, subject="Your scan is booked", category="health",
                             text="Your CT is on Monday at 9:00.\nPlease arrive 15 minutes early.",
                             sent="2026-02-01T10:00:00Z")
    newer = practice_message(admin, who.person.patient_id, subject="<b>Refill</b> sent", category="rx",
                             text="We sent your refill <script>alert(1)</script> to the pharmacy.",
                             sent="2026-02-03T10:00:00Z", sender_display=None)
    sign_in(page, who.person.email, PASSWORD, who.person.birth_date)
    page.get_by_role("link", name="Messages").first.click()
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Messages (2)")).to_be_visible()
    expect(page).to_have_title("Messages (2) · Riverbend Oncology Associates")
    rows = page.locator(".msg-row")
    expect(rows).to_have_count(2)
    # Newest first; a sender without a display name is named from the Practitioner; text stays text.
    expect(rows.nth(0)).to_contain_text("<b>Refill</b> sent")
    expect(rows.nth(0)).to_contain_text("Emily Hart")
    expect(rows.nth(0)).to_contain_text("Rx")
    expect(rows.nth(0)).to_contain_text("Feb 3, 2026")
    expect(rows.nth(1)).to_contain_text("Your scan is booked")
    expect(rows.nth(1)).to_contain_text("Health")
    expect(page.locator(".msg-row.unread")).to_have_count(2)
    shot(page, "messages-inbox")

    rows.nth(1).click()
    expect(page.get_by_role("heading", name="Your scan is booked")).to_be_visible()
    text = page.locator(".msg-text").first
    expect(text).to_have_text("Your CT is on Monday at 9:00.\nPlease arrive 15 minutes early.")
    assert text.evaluate("e => getComputedStyle(e).whiteSpace") == "pre-wrap"
    assert admin.get(f"/Communication/{older['id']}").json().get("received")
    assert not admin.get(f"/Communication/{newer['id']}").json().get("received")
    expect(page.get_by_role("navigation", name="Main")).to_contain_text("Messages (1)")
    # Marking it read wrote a new version, and that write is audited.
    read_event = db["AuditEvent"].find_one({"res.entity.what.reference": f"Communication/{older['id']}",
                                           "res.subtype.code": "update"})
    assert read_event is not None
    assert {"reference": f"Patient/{who.person.patient_id}"} in [e["what"] for e in read_event["res"]["entity"]]

    page.goto(f"/messages/{newer['id']}")
    expect(page.locator(".msg-text").first).to_have_text(
        "We sent your refill <script>alert(1)</script> to the pharmacy.")
    page.goto("/messages")
    expect(page.locator(".msg-row.unread")).to_have_count(0)
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Messages", exact=True)).to_be_visible()

    # Another patient's message id is a plain "not found" page.
    page.goto("/messages/jane-doe-msg-2026-06-17")
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()


def test_reply_once_and_a_second_reply_is_refused(browser: Any, context: BrowserContext, page: Page, server: Any,
                                                  admin: httpx.Client, db: Any, smtp: Any) -> None:
    who = member(server, admin, smtp, given="Pearl")
    message = practice_message(admin, who.person.patient_id, subject="How are you feeling?", category="health",
                               text="Any side effects since the last cycle?")
    sign_in(page, who.person.email, PASSWORD, who.person.birth_date)
    page.goto(f"/messages/{message['id']}")
    # A second tab opened before the first reply still shows the form: the server must refuse.
    other = context.new_page()
    other.goto(f"/messages/{message['id']}")

    page.get_by_label("Your reply").fill("A little tired,\nbut eating well.")
    page.get_by_role("button", name="Send reply").click()
    expect(page.get_by_role("status")).to_have_text("Your reply was sent to your care team.")
    expect(page.locator(".msg-card")).to_have_count(2)
    expect(page.locator(".msg-card.mine .msg-text")).to_have_text("A little tired,\nbut eating well.")
    expect(page.get_by_label("Your reply")).to_have_count(0)
    expect(page.get_by_text("This conversation is closed for replies.")).to_be_visible()
    shot(page, "messages-thread")

    replies = admin.get("/Communication", params={"in-response-to": f"Communication/{message['id']}"}).json()
    [reply] = [e["resource"] for e in replies["entry"]]
    assert reply["sender"]["reference"] == who.patient_ref
    assert reply["recipient"][0]["reference"] == who.care_team
    assert reply["subject"]["reference"] == who.patient_ref
    assert reply["topic"] == message["topic"] and reply["category"] == message["category"]
    assert reply["status"] == "completed" and reply["sent"]
    assert reply["payload"][0]["contentString"] == "A little tired,\nbut eating well."

    other.get_by_label("Your reply").fill("One more thing: my feet tingle.")
    other.get_by_role("button", name="Send reply").click()
    expect(other.get_by_role("alert")).to_contain_text("This message has already been answered")
    expect(other.get_by_label("Your text (not sent)")).to_have_value("One more thing: my feet tingle.")
    shot(other, "messages-second-reply-refused")

    # A reply to a reply (here, the patient's own) is refused too, even when posted by hand.
    client, csrf = portal_client(server, context)
    with client:
        response = client.post(f"/messages/{reply['id']}/reply", data={"csrf_token": csrf, "body": "Hello?"})
    assert response.status_code == 422
    assert "cannot be replied to" in response.text
    count = admin.get("/Communication", params={"in-response-to": f"Communication/{message['id']}",
                                                "_summary": "count"}).json()["total"]
    assert count == 1


def test_compose_each_category_and_the_sent_folder(page: Page, context: BrowserContext, server: Any,
                                                   admin: httpx.Client, db: Any, smtp: Any) -> None:
    who = member(server, admin, smtp, given="Quinn")
    sign_in(page, who.person.email, PASSWORD, who.person.birth_date)
    page.goto("/messages")
    expect(page.get_by_role("heading", name="No messages yet")).to_be_visible()
    page.get_by_role("link", name="New message").click()

    # Errors in place, keeping what was typed.
    page.get_by_label("Subject").fill("")
    page.get_by_label("Message").fill("Can I take ibuprofen with my new prescription?")
    page.get_by_role("button", name="Send message").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Choose a category: Rx or Health.")
    expect(alert).to_contain_text("Enter a subject.")
    expect(page.get_by_label("Message")).to_have_value("Can I take ibuprofen with my new prescription?")
    shot(page, "messages-compose-error")

    for category, subject in (("Rx", "Ibuprofen question"), ("Health", "Trouble sleeping")):
        page.goto("/messages/new")
        page.get_by_label("Category").select_option(category)
        page.get_by_label("Subject").fill(subject)
        page.get_by_label("Message").fill(f"About {subject.lower()}:\nthank you.")
        page.get_by_role("button", name="Send message").click()
        expect(page.get_by_role("status")).to_have_text("Your message was sent to your care team.")
        expect(page.get_by_role("heading", name=subject)).to_be_visible()
        expect(page.get_by_label("Your reply")).to_have_count(0)

    page.get_by_role("link", name="Back to sent messages").click()
    rows = page.locator(".msg-row")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("Trouble sleeping")
    expect(rows.nth(0)).to_contain_text("Health")
    expect(rows.nth(1)).to_contain_text("Ibuprofen question")
    expect(rows.nth(1)).to_contain_text("Rx")
    shot(page, "messages-sent")

    sent = admin.get("/Communication", params={"sender": who.patient_ref, "_sort": "-sent"}).json()
    codes = [e["resource"]["category"][0]["coding"][0]["code"] for e in sent["entry"]]
    assert sorted(codes) == ["health", "rx"]
    assert all(e["resource"]["recipient"][0]["reference"] == who.care_team for e in sent["entry"])

    # A third category, a long subject and an empty body posted by hand: refused, nothing stored.
    client, csrf = portal_client(server, context)
    with client:
        response = client.post("/messages/new", data={"csrf_token": csrf, "category": "Billing",
                                                      "subject": "Invoice", "body": "Please explain."})
        assert response.status_code == 400
        assert "Choose a category: Rx or Health." in response.text
        response = client.post("/messages/new", data={"csrf_token": csrf, "category": "Rx",
                                                      "subject": "x" * 121, "body": " "})
        assert response.status_code == 400
        assert "at most 120 characters" in response.text and "Write your message." in response.text
        response = client.post("/messages/new", data={"category": "Rx", "subject": "No token", "body": "Hi"})
        assert response.status_code == 403
    after = admin.get("/Communication", params={"sender": who.patient_ref, "_summary": "count"}).json()
    assert after["total"] == 2


def test_a_delegates_reply_is_sent_as_the_related_person(page: Page, server: Any, admin: httpx.Client) -> None:
    message = practice_message(admin, "jane-doe", subject="Question for Jane's family", category="health",
                               text="Could someone confirm Jane's ride for Thursday?", sent="2026-03-01T12:00:00Z")
    sign_in(page, "sophie.doe@example.org", "Sophie-Demo-2026!", "1994-02-17")
    page.goto("/messages")
    expect(page.get_by_role("status")).to_contain_text("Viewing Jane Doe")
    page.get_by_role("link", name="Question for Jane's family").click()
    page.get_by_label("Your reply").fill("Yes, I will drive her.")
    page.get_by_role("button", name="Send reply").click()
    expect(page.get_by_role("status").filter(has_text="Your reply was sent")).to_be_visible()

    replies = admin.get("/Communication", params={"in-response-to": f"Communication/{message['id']}"}).json()
    [reply] = [e["resource"] for e in replies["entry"]]
    assert reply["sender"]["reference"] == "RelatedPerson/sophie-doe"
    assert reply["subject"]["reference"] == "Patient/jane-doe"
    assert reply["recipient"][0]["reference"] == "CareTeam/jane-doe-care-team"
