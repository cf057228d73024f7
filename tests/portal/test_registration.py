"""Invite → email → register → sign in → Resources → sign out, in a real browser with real mail."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests.portal.conftest import Mailbox, fill_password, html_of, invite, link_in, new_patient, shot, sign_in

PASSWORD = "Harbour-Lights-42"


def test_invited_patient_registers_signs_in_and_signs_out(page: Page, server: Any, admin: httpx.Client,
                                                          smtp: Mailbox) -> None:
    person = new_patient(admin, given="Nora", family="Whitfield", birth_date="1962-11-03")
    response = invite(server, person)
    assert response.status_code == 200, response.text
    assert response.json()["resourceType"] == "OperationOutcome"

    mail = smtp.wait_for(person.email, "Complete your registration")
    assert "Riverbend Oncology Associates" in mail["From"]
    assert "Complete your registration" in html_of(mail)
    link = link_in(mail, "/register")

    page.goto(link)
    # The token is exchanged for a cookie at once: it is not left in the address bar.
    expect(page).to_have_url(f"{server.url}/register")
    expect(page.get_by_role("heading", name="Complete your registration")).to_be_visible()
    expect(page.get_by_text(person.email)).to_be_visible()
    shot(page, "register")

    # The checklist follows what is typed; the server names every unmet rule.
    fill_password(page, "weakpass")
    expect(page.locator('li[data-rule="lower"]')).to_have_class("met")
    expect(page.locator('li[data-rule="upper"]')).not_to_have_class("met")
    page.get_by_role("button", name="Create my account").click()
    error = page.get_by_role("alert")
    expect(error).to_contain_text("An upper-case letter")
    expect(error).to_contain_text("A digit")
    expect(error).to_contain_text("A special character")
    expect(error).not_to_contain_text("At least 8 characters")
    shot(page, "register-weak-password")

    fill_password(page, PASSWORD)
    page.get_by_role("button", name="Create my account").click()
    expect(page).to_have_url(f"{server.url}/health?notice=registered")  # signed in by registering
    expect(page.get_by_role("status")).to_contain_text("Your account is ready")
    expect(page.locator(".user-name")).to_have_text("Nora Whitfield")
    shot(page, "health-after-registration")
    page.context.clear_cookies()

    # A wrong date of birth: one message that does not say which field was wrong.
    sign_in(page, person.email, PASSWORD, "1962-11-04")
    expect(page.get_by_role("alert")).to_have_text(
        "Those details do not match our records. Check your email, password and date of birth and try again.")
    expect(page.get_by_label("Email")).to_have_value(person.email)
    expect(page.get_by_label("Password")).to_have_value("")
    shot(page, "login-wrong-details")

    sign_in(page, person.email.upper(), PASSWORD, person.birth_date)
    expect(page).to_have_url(f"{server.url}/health")
    expect(page.locator(".user-name")).to_have_text("Nora Whitfield")
    # A new patient with no results yet: the Health page says so instead of an empty table.
    expect(page.get_by_role("heading", name="Health", exact=True)).to_be_visible()
    expect(page.get_by_text("No lab results yet.")).to_be_visible()
    shot(page, "health-new-patient")

    page.get_by_role("link", name="Resources").click()
    expect(page.get_by_role("heading", name="Resources", exact=True)).to_be_visible()
    for title in ("National Cancer Institute", "American Cancer Society", "CancerCare"):
        expect(page.get_by_role("link", name=title)).to_be_visible()
    shot(page, "resources")

    page.locator(".user-menu summary").click()
    expect(page.get_by_role("link", name="Manage users")).to_be_visible()
    expect(page.get_by_role("link", name="Apps")).to_be_visible()
    shot(page, "user-menu")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{server.url}/login?notice=signed_out")

    page.goto("/resources")
    expect(page).to_have_url(f"{server.url}/login?next=/resources")
    shot(page, "login")


def test_demo_delegate_signs_in_with_her_own_birth_date(page: Page, server: Any) -> None:
    sign_in(page, "sophie.doe@example.org", "Sophie-Demo-2026!", "1994-02-17")
    expect(page).to_have_url(f"{server.url}/health")
    expect(page.locator(".user-name")).to_have_text("Sophie Doe")


def test_sign_in_returns_to_the_page_asked_for_but_never_off_site(page: Page, server: Any) -> None:
    page.goto("/login?next=//evil.example/steal")
    page.get_by_label("Email").fill("robert.chen@example.org")
    page.get_by_label("Password").fill("Robert-Demo-2026!")
    page.get_by_label("Date of birth").fill("1957-09-30")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{server.url}/health")

    page.context.clear_cookies()
    page.goto("/messages")
    expect(page).to_have_url(f"{server.url}/login?next=/messages")
    page.get_by_label("Email").fill("robert.chen@example.org")
    page.get_by_label("Password").fill("Robert-Demo-2026!")
    page.get_by_label("Date of birth").fill("1957-09-30")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{server.url}/messages")
    shot(page, "messages-placeholder")
