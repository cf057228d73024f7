"""Send Record in a real browser: a patient sends a year of labs and documents, the recipient
(a second browser context, no session) opens the mailed link with the password, reads the
summary and downloads the Bundle; bad input is refused in place; revoke; 5 wrong passwords lock."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.portal.conftest import DESKTOP, Mailbox, html_of, shot, sign_in, text_of
from tests.portal.test_messages_support import portal_client

ROBERT = ("robert.chen@example.org", "Robert-Demo-2026!", "1957-09-30")
PASSWORD = "Blue-Heron-2019"


def _recipient() -> str:
    return f"dr.{uuid.uuid4().hex[:8]}@lakeside-family.example.net"


def fill_form(page: Page, recipient: str, start: str, end: str, password: str, confirm: str | None = None,
              notes: str = "") -> None:
    page.get_by_label("Recipient's email").fill(recipient)
    page.get_by_label("Start date").fill(start)
    page.get_by_label("End date").fill(end)
    page.get_by_label("Notes for the recipient").fill(notes)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Type the password again").fill(password if confirm is None else confirm)


def viewer_link(mail: Any) -> str:
    match = re.search(r"https?://\S+/shl/view#shlink:/[\w-]+", text_of(mail))
    assert match, text_of(mail)
    return match.group(0)


def test_patient_sends_a_year_and_the_recipient_opens_it(page: Page, browser: Browser, server: Any,
                                                         smtp: Mailbox, db: Any) -> None:
    sign_in(page, *ROBERT)
    page.goto("/send-record")
    expect(page.get_by_role("heading", name="Send your record")).to_be_visible()
    shot(page, "send-record-form")

    # Bad input: refused in place, with what was typed kept, and nothing sent.
    bad = "not-an-email"
    fill_form(page, bad, "2019-12-31", "2019-01-01", "short", notes="Please keep")
    expect(page.locator('li[data-rule="length"]')).not_to_have_class("met")
    page.get_by_role("button", name="Send Record").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("does not look like an email address")
    expect(alert).to_contain_text("The end date is before the start date")
    expect(alert).to_contain_text("An upper-case letter")
    expect(page.get_by_label("Recipient's email")).to_have_value(bad)
    expect(page.get_by_label("Notes for the recipient")).to_have_value("Please keep")
    expect(page.get_by_label("Password", exact=True)).to_have_value("")
    shot(page, "send-record-errors")

    recipient = _recipient()
    fill_form(page, recipient, "2005-01-01", "2005-12-31", PASSWORD)
    page.get_by_role("button", name="Send Record").click()
    expect(page.get_by_role("alert")).to_contain_text("There is nothing in your record between")
    fill_form(page, recipient, "2019-01-01", "2019-12-31", PASSWORD, confirm="Blue-Heron-2018")
    page.get_by_role("button", name="Send Record").click()
    expect(page.get_by_role("alert")).to_contain_text("The two passwords must match")
    assert db["shl_links"].count_documents({"recipient": recipient}) == 0
    assert not smtp.to(recipient)

    # A year of labs and documents.
    fill_form(page, recipient, "2019-01-01", "2019-12-31", PASSWORD, notes="For Robert's visit on Monday.")
    page.get_by_label("7 days").check()
    page.get_by_role("button", name="Send Record").click()
    notice = page.locator("main [role=status]")
    expect(notice).to_contain_text(f"Sent to {recipient}")
    expect(notice).to_contain_text("by phone or in person")
    item = page.locator(".sent-item", has_text=recipient)
    expect(item).to_contain_text("2019-01-01 to 2019-12-31")
    expect(item).to_contain_text("Not yet")
    shot(page, "send-record-sent-list")

    mail = smtp.wait_for(recipient, "sent you health records")
    body = text_of(mail)
    assert "Riverbend Oncology Associates" in mail["From"]
    assert "Robert Chen" in body and "Jan 1, 2019 to Dec 31, 2019" in body
    assert "For Robert's visit on Monday." in body
    assert PASSWORD not in body and PASSWORD not in html_of(mail)
    link = viewer_link(mail)

    # The recipient: a second browser context, no session.
    other = browser.new_context(base_url=server.url, viewport=DESKTOP, accept_downloads=True)
    try:
        viewer = other.new_page()
        viewer.goto(link)
        expect(viewer.get_by_role("heading", name="Open the shared health record")).to_be_visible()
        expect(viewer.locator("#label")).to_contain_text("Jan 1, 2019 to Dec 31, 2019")
        expect(viewer.get_by_text("Robert")).to_have_count(0)  # nothing of the patient before the password
        shot(viewer, "shl-viewer-password")
        viewer.get_by_label("Password").fill("Blue-Heron-2018")
        viewer.get_by_role("button", name="Open record").click()
        expect(viewer.get_by_role("alert")).to_contain_text("4 attempts left")
        viewer.get_by_label("Password").fill(PASSWORD)
        viewer.get_by_role("button", name="Open record").click()
        expect(viewer.get_by_role("heading", name="Robert Chen")).to_be_visible()
        labs = viewer.locator("#labs tbody tr")
        expect(labs.first).to_be_visible()
        assert labs.count() == db["Observation"].count_documents(
            {"comp": "robert-chen", "res.effectiveDateTime": {"$gte": "2019-01-01", "$lt": "2020-01-01"}})
        expect(viewer.locator("#docs li").first).to_be_visible()
        # The sender's note, carried inside the encrypted Bundle, above the record.
        note = viewer.get_by_role("region", name="Note from the sender")
        expect(note).to_contain_text("For Robert's visit on Monday.")
        expect(note).to_contain_text("Robert Chen")
        expect(viewer.locator("#messages")).not_to_contain_text("For Robert's visit on Monday.")
        shot(viewer, "shl-viewer-unlocked")

        with viewer.expect_download() as download_info:
            viewer.get_by_role("button", name="Download FHIR Bundle (.json)").click()
        bundle = json.loads(Path(download_info.value.path()).read_text(encoding="utf-8"))
        Bundle.model_validate(bundle)
        assert {e["resource"]["resourceType"] for e in bundle["entry"]} >= {"Patient", "Observation",
                                                                             "DocumentReference"}
        notes = [e for e in bundle["entry"] if e["fullUrl"].startswith("urn:uuid:")]
        assert [n["resource"]["payload"][0]["contentString"] for n in notes] == ["For Robert's visit on Monday."]
        stored = db["shl_links"].find_one({"recipient": recipient})
        assert "For Robert" not in stored["jwe"]  # the note travels encrypted
        with viewer.expect_download() as doc_info:
            viewer.locator("#docs li").first.get_by_role("button", name=re.compile("Download")).click()
        assert doc_info.value.suggested_filename
        assert Path(doc_info.value.path()).read_bytes()

        # The patient sees it was opened, and revokes it; the recipient is told.
        page.goto("/send-record")
        item = page.locator(".sent-item", has_text=recipient)
        expect(item.locator("dd").nth(3)).not_to_have_text("Not yet")
        item.get_by_role("link", name=re.compile("^Revoke the link sent to")).click()
        # Revoking cannot be undone, so the page asks first; keeping it changes nothing.
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Revoke the link sent to {recipient}?")
        shot(page, "send-record-revoke-confirm")
        page.get_by_role("link", name="Keep the link").click()
        expect(page.locator(".sent-item", has_text=recipient).locator(".badge")).to_have_text("Active")
        page.locator(".sent-item", has_text=recipient).get_by_role("link", name=re.compile("^Revoke")).click()
        page.get_by_role("button", name="Revoke the link").click()
        expect(page.locator("main [role=status]")).to_contain_text("The link is revoked")
        expect(page.locator(".sent-item", has_text=recipient).locator(".badge")).to_have_text("Revoked")
        viewer.goto("about:blank")
        viewer.goto(link)
        viewer.get_by_label("Password").fill(PASSWORD)
        viewer.get_by_role("button", name="Open record").click()
        expect(viewer.get_by_role("alert")).to_contain_text("withdrawn this link")
    finally:
        other.close()


def test_five_wrong_passwords_lock_the_link(page: Page, browser: Browser, server: Any, smtp: Mailbox) -> None:
    sign_in(page, *ROBERT)
    page.goto("/send-record")
    recipient = _recipient()
    fill_form(page, recipient, "2019-01-01", "2019-03-31", PASSWORD)
    page.get_by_role("button", name="Send Record").click()
    expect(page.locator("main [role=status]")).to_contain_text(f"Sent to {recipient}")
    link = viewer_link(smtp.wait_for(recipient, "sent you health records"))

    other = browser.new_context(base_url=server.url, viewport=DESKTOP)
    try:
        viewer = other.new_page()
        viewer.goto(link)
        for left in (4, 3, 2, 1):
            viewer.get_by_label("Password").fill(f"Wrong-Guess-{left}")
            viewer.get_by_role("button", name="Open record").click()
            expect(viewer.locator("#unlock-error")).to_contain_text(f"{left} attempt")
        viewer.get_by_label("Password").fill("Wrong-Guess-0")
        viewer.get_by_role("button", name="Open record").click()
        expect(viewer.get_by_role("heading", name="This link can no longer be opened")).to_be_visible()
        expect(viewer.get_by_role("alert")).to_contain_text("locked")
        expect(viewer.get_by_role("alert")).to_contain_text("send the record again")
        shot(viewer, "shl-viewer-locked")
        viewer.goto("about:blank")
        viewer.goto(link)
        viewer.get_by_label("Password").fill(PASSWORD)  # even the right one, now
        viewer.get_by_role("button", name="Open record").click()
        expect(viewer.get_by_role("alert")).to_contain_text("locked")
    finally:
        other.close()
    page.goto("/send-record")
    expect(page.locator(".sent-item", has_text=recipient).locator(".badge")).to_have_text("Locked")


def test_a_delegate_sends_on_the_patients_behalf_and_is_audited_as_themselves(page: Page, smtp: Mailbox,
                                                                              db: Any) -> None:
    sign_in(page, "sophie.doe@example.org", "Sophie-Demo-2026!", "1994-02-17")
    page.goto("/send-record")
    expect(page.get_by_role("heading", name="Send Jane Doe's record")).to_be_visible()
    recipient = _recipient()
    fill_form(page, recipient, "2024-01-01", "2024-12-31", PASSWORD)
    page.get_by_role("button", name="Send Record").click()
    expect(page.locator(".sent-notice")).to_contain_text(f"Sent to {recipient}")
    shot(page, "send-record-delegate")
    body = text_of(smtp.wait_for(recipient, "sent you health records"))
    assert "Sophie Doe, on behalf of Jane Doe" in body
    stored = db["shl_links"].find_one({"recipient": recipient})
    assert stored["patient"] == "jane-doe" and stored["sent_by"] == "RelatedPerson/sophie-doe"
    event = db["AuditEvent"].find_one({"res.outcomeDesc": {"$regex": f"to {re.escape(recipient)}$"}})
    assert event is not None
    agents = [a["who"]["reference"] for a in event["res"]["agent"]]
    assert agents == ["RelatedPerson/sophie-doe", "Patient/jane-doe"]


def test_the_page_needs_a_session(page: Page, server: Any) -> None:
    page.goto("/send-record")
    expect(page).to_have_url(f"{server.url}/login?next=/send-record")


def test_a_days_value_that_is_a_digit_but_not_a_number_is_refused(page: Page, context: BrowserContext,
                                                                   server: Any) -> None:
    sign_in(page, "jane.doe@example.org", "Jane-Demo-2026!", "1968-04-12")
    expect(page).to_have_url(re.compile(r"/health$"))
    client, csrf = portal_client(server, context)
    with client:  # posted by hand: "²".isdigit() is True but int("²") raises
        response = client.post("/send-record", data={
            "csrf_token": csrf, "recipient": _recipient(), "start": "2024-01-01", "end": "2024-12-31",
            "days": "²", "password": "Record-Pass-2026!", "password_confirm": "Record-Pass-2026!"})
    assert response.status_code == 400, response.text
    assert "Choose how long the link should work." in response.text
