"""Forgot password → email → reset → the old password no longer works; other sessions end."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import Browser, Page, expect

from tests.portal.conftest import Mailbox, fill_password, invite, link_in, new_patient, shot, sign_in

OLD, NEW = "First-Password-1", "Second-Password-2"


def register(page: Page, server: Any, admin: httpx.Client, smtp: Mailbox, **names: str) -> Any:
    person = new_patient(admin, **names)
    assert invite(server, person).status_code == 200
    page.goto(link_in(smtp.wait_for(person.email, "Complete your registration"), "/register"))
    fill_password(page, OLD)
    page.get_by_role("button", name="Create my account").click()
    expect(page).to_have_url(f"{server.url}/health?notice=registered")
    page.context.clear_cookies()  # signed in by registering; the tests start signed out
    return person


def test_reset_changes_the_password_and_signs_out_other_sessions(page: Page, browser: Browser, server: Any,
                                                                   admin: httpx.Client, smtp: Mailbox) -> None:
    person = register(page, server, admin, smtp, given="Ivo", family="Marsh")
    # Another browser, signed in with the old password.
    other = browser.new_context(base_url=server.url)
    other_page = other.new_page()
    sign_in(other_page, person.email, OLD, person.birth_date)
    expect(other_page).to_have_url(f"{server.url}/health")

    page.goto("/login")
    page.get_by_role("link", name="Forgot your password?").click()
    shot(page, "forgot-password")
    page.get_by_label("Email").fill(person.email)
    page.get_by_role("button", name="Email me a reset link").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    shot(page, "forgot-password-sent")

    page.goto(link_in(smtp.wait_for(person.email, "Reset your"), "/reset-password"))
    expect(page).to_have_url(f"{server.url}/reset-password")
    shot(page, "reset-password")
    fill_password(page, NEW, "Second-Password-3")
    page.get_by_role("button", name="Change my password").click()
    expect(page.get_by_role("alert")).to_contain_text("The two passwords must match")
    fill_password(page, NEW)
    page.get_by_role("button", name="Change my password").click()
    expect(page).to_have_url(f"{server.url}/login?notice=reset")

    sign_in(page, person.email, OLD, person.birth_date)
    expect(page.get_by_role("alert")).to_contain_text("do not match our records")
    sign_in(page, person.email, NEW, person.birth_date)
    expect(page).to_have_url(f"{server.url}/health")

    other_page.goto("/health")
    expect(other_page).to_have_url(f"{server.url}/login?next=/health")
    other.close()


def test_forgot_password_says_the_same_for_an_unknown_email(page: Page, smtp: Mailbox) -> None:
    page.goto("/forgot-password")
    page.get_by_label("Email").fill("nobody-here@example.net")
    page.get_by_role("button", name="Email me a reset link").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    expect(page.get_by_text("If nobody-here@example.net belongs to a portal account")).to_be_visible()
    assert smtp.to("nobody-here@example.net") == []
