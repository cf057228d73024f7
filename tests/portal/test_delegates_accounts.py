"""A person who already has a CareSpace account accepts an invite into that same account, then
switches between their own record and the patient's; revocation takes the patient off the list."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import Browser, Page, expect

from tests.portal.conftest import Mailbox, fill_password, invite, link_in, new_patient, shot, sign_in
from tests.portal.test_delegates import JANE, SUBJECT, invite_someone, row

PASSWORD = "Lantern-Harbour-58"


def test_existing_account_accepts_the_invite_and_switches_records(browser: Browser, page: Page, server: Any,
                                                                  admin: httpx.Client, smtp: Mailbox) -> None:
    # A patient of the practice with their own account.
    ada = new_patient(admin, given="Ada", family="Lindqvist", birth_date="1972-08-14")
    assert invite(server, ada).status_code == 200
    page.goto(link_in(smtp.wait_for(ada.email, "Complete your registration"), "/register"))
    fill_password(page, PASSWORD)
    page.get_by_role("button", name="Create my account").click()
    expect(page).to_have_url(f"{server.url}/health?notice=registered")
    page.context.clear_cookies()  # Ada closes the browser; she signs in again below

    # Jane invites Ada, with Ada's own date of birth.
    jane_ctx = browser.new_context(base_url=server.url)
    jane = jane_ctx.new_page()
    sign_in(jane, *JANE)
    invite_someone(jane, ada.email, ada.birth_date, name="Ada Lindqvist", relationship="Friend")
    expect(jane.get_by_role("status")).to_contain_text("Invitation sent to Ada Lindqvist")

    # The link asks Ada to sign in, then adds Jane's record to her account.
    page.goto(link_in(smtp.wait_for(ada.email, SUBJECT), "/register"))
    expect(page).to_have_url(f"{server.url}/register/accept")
    expect(page.get_by_role("heading", name="Jane Doe has invited you")).to_be_visible()
    shot(page, "users-accept-invite")
    page.get_by_role("link", name="Sign in to accept").click()
    page.get_by_label("Email").fill(ada.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Date of birth").fill(ada.birth_date)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{server.url}/register/accept")
    page.get_by_role("button", name="Accept the invitation").click()
    expect(page).to_have_url(f"{server.url}/health")
    expect(page.locator(".viewing-banner")).to_have_text("Viewing Jane Doe's record · Jane Doe gave you access")

    # The switcher in the user menu: her own record and Jane's.
    page.locator(".user-menu summary").click()
    switcher = page.locator(".menu-switch")
    expect(switcher.get_by_role("button", name="Jane Doe")).to_have_attribute("aria-current", "true")
    expect(switcher.get_by_role("button", name="Ada Lindqvist (you)")).to_be_visible()
    shot(page, "delegate-switcher")
    switcher.get_by_role("button", name="Ada Lindqvist (you)").click()
    expect(page).to_have_url(f"{server.url}/health")
    expect(page.locator(".viewing-banner")).to_have_count(0)
    # Her own users page works (she is the patient in view), and lists no one.
    page.goto("/users")
    expect(page.get_by_role("heading", name="Manage users")).to_be_visible()
    expect(page.locator("li.person")).to_have_count(0)

    page.locator(".user-menu summary").click()
    page.locator(".menu-switch").get_by_role("button", name="Jane Doe").click()
    expect(page.locator(".viewing-banner")).to_have_text("Viewing Jane Doe's record · Jane Doe gave you access")
    page.goto("/users")
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()

    # Jane revokes: Ada's next click shows her own record, and Jane is gone from the menu.
    jane.goto("/users")
    expect(row(jane, ada.email)).to_contain_text("Active")
    row(jane, ada.email).get_by_role("link", name="Revoke access").click()
    jane.get_by_role("button", name="Revoke access").click()
    expect(jane.get_by_role("status")).to_contain_text("Access for Ada Lindqvist has ended")
    jane_ctx.close()

    page.goto("/health")
    expect(page.locator(".viewing-banner")).to_have_count(0)
    page.locator(".user-menu summary").click()
    expect(page.locator(".menu-switch")).to_have_count(0)
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "carespace_csrf")
    response = page.request.post("/switch-patient", form={"csrf_token": token, "patient_id": "jane-doe"},
                                 max_redirects=0)
    assert response.status == 403
