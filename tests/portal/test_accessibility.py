"""axe-core (WCAG 2.0/2.1 A and AA) on every page state of the portal and the Send Record
viewer, at phone and desktop width, as a patient, as a family member and signed out; and the
account menu by keyboard and pointer. One walk per person collects every violation, so a
failure lists each page state that has one."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.portal.conftest import DESKTOP, PHONE, fill_password, sign_in
from tests.portal.test_send_record import fill_form, viewer_link
from tests.support.axe import check
from tests.support.fhir import all_pages
from tests.support.mail import link_in
from tests.support.portal import JANE, SOPHIE, invite, new_patient

pytestmark = pytest.mark.usefixtures("server")


def _open_menu(page: Page) -> None:
    page.locator(".user-menu > summary").click()
    expect(page.locator(".user-menu .menu")).to_be_visible()


def _close_menu(page: Page) -> None:
    page.keyboard.press("Escape")


def test_signed_out_pages(page: Page, server: Any, admin: httpx.Client, smtp: Any) -> None:
    problems: list[str] = []
    for path in ("/login", "/forgot-password", "/register?token=not-a-real-token", "/reset-password?token=nope",
                 "/no-such-page"):
        page.goto(path)
        check(page, path, problems)
    page.goto("/login")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    check(page, "/login with errors", problems)
    page.goto("/forgot-password")
    page.get_by_label("Email").fill(f"nobody.{uuid.uuid4().hex[:6]}@example.net")
    page.get_by_role("button", name="Email me a reset link").click()
    page.wait_for_load_state()
    check(page, "/forgot-password sent", problems)
    # Registration and reset with real links, each with its form refused once.
    person = new_patient(admin, given="Axel")
    assert invite(server, person).status_code == 200
    page.goto(link_in(smtp.wait_for(person.email, "Complete your registration"), "/register"))
    check(page, "/register", problems)
    fill_password(page, "short", "other")
    page.get_by_role("button", name="Create my account").click()
    expect(page.get_by_role("alert")).to_be_visible()
    check(page, "/register with errors", problems)
    fill_password(page, person.password)
    page.get_by_role("button", name="Create my account").click()
    page.wait_for_url("**/health?notice=registered")
    check(page, "/health after registering", problems)
    page.context.clear_cookies()
    page.goto("/forgot-password")
    page.get_by_label("Email").fill(person.email)
    page.get_by_role("button", name="Email me a reset link").click()
    page.goto(link_in(smtp.wait_for(person.email, "Reset your"), "/reset-password"))
    check(page, "/reset-password", problems)
    fill_password(page, "short")
    page.get_by_role("button", name="Change my password").click()
    expect(page.get_by_role("alert")).to_be_visible()
    check(page, "/reset-password with errors", problems)
    assert not problems, "\n".join(problems)


def test_patient_pages(page: Page, admin: httpx.Client) -> None:
    problems: list[str] = []
    sign_in(page, *JANE)
    expect(page.get_by_role("heading", name="Health", exact=True)).to_be_visible()
    check(page, "/health", problems)
    page.locator("details.lab > summary").first.click()
    check(page, "/health history open", problems)
    page.locator("details.download-menu > summary").click()
    check(page, "/health download menu open", problems)
    _open_menu(page)
    check(page, "/health account menu open", problems)
    _close_menu(page)
    # An error page keeps the signed-in navigation (a 404 runs no route that loads the session).
    page.goto("/no-such-page")
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    expect(page.locator(".user-menu > summary")).to_have_accessible_name("Account menu for Jane Doe")
    for path in ("/health/documents", "/health/documents?from=2020-13-45", "/health/download/summary",
                 "/health/download/summary?from=bad", "/messages", "/messages/sent", "/messages/new", "/users",
                 "/send-record", "/apps", "/resources", "/no-such-page", "/users/not-a-consent/revoke"):
        page.goto(path)
        check(page, path, problems)
    text_note = next(d for d in all_pages(admin, "/DocumentReference", {"patient": "jane-doe", "_count": "100"})
                     if d["content"][0]["attachment"].get("contentType") == "text/plain"
                     and d["content"][0]["attachment"].get("data"))
    page.goto(f"/health/documents/{text_note['id']}")
    expect(page.locator(".doc-view")).to_be_visible()
    check(page, "/health/documents/{id}", problems)
    page.goto("/messages")
    page.locator("a.msg-row").first.click()
    page.wait_for_load_state()
    check(page, "/messages/{id}", problems)
    page.goto("/messages/new")
    page.get_by_role("button", name=re.compile("Send", re.I)).click()
    page.wait_for_load_state()
    check(page, "/messages/new with errors", problems)
    page.goto("/users")
    page.get_by_role("button", name="Send invitation").click()
    page.wait_for_load_state()
    check(page, "/users invite with errors", problems)
    page.goto("/users")
    page.locator(".revoke-link").first.click()
    page.wait_for_load_state()
    check(page, "/users/{id}/revoke", problems)
    page.goto("/send-record")
    fill_form(page, "not-an-email", "2019-12-31", "2019-01-01", "short")
    page.get_by_role("button", name="Send Record").click()
    page.wait_for_load_state()
    check(page, "/send-record with errors", problems)
    assert not problems, "\n".join(problems)


def test_family_member_pages(page: Page) -> None:
    problems: list[str] = []
    sign_in(page, *SOPHIE)
    page.wait_for_load_state()
    check(page, "/health (family member)", problems)
    _open_menu(page)
    check(page, "account menu open (family member)", problems)
    _close_menu(page)
    for path in ("/messages", "/users", "/send-record", "/apps"):
        page.goto(path)
        check(page, f"{path} (family member)", problems)
    assert not problems, "\n".join(problems)


def test_send_record_viewer(page: Page, browser: Browser, smtp: Any) -> None:
    problems: list[str] = []
    sign_in(page, *JANE)
    page.goto("/send-record")
    recipient = f"dr.{uuid.uuid4().hex[:8]}@lakeside-family.example.net"
    fill_form(page, recipient, "2015-01-01", "2026-12-31", "Blue-Heron-2019", notes="For the visit on Monday.")
    page.get_by_role("button", name="Send Record").click()
    expect(page.locator("main [role=status]")).to_contain_text(f"Sent to {recipient}")
    check(page, "/send-record sent", problems)
    page.locator(".sent-item", has_text=recipient).get_by_role("link", name=re.compile("^Revoke")).click()
    expect(page.get_by_role("button", name="Revoke the link")).to_be_visible()
    check(page, "/send-record/{id}/revoke", problems)
    link = viewer_link(smtp.wait_for(recipient, "health record"))
    viewer_ctx: BrowserContext = browser.new_context(viewport=DESKTOP)
    try:
        viewer = viewer_ctx.new_page()
        viewer.goto(link)
        expect(viewer.get_by_label("Password")).to_be_visible()
        check(viewer, "viewer unlock", problems)
        viewer.get_by_label("Password").fill("Wrong-Password-1")
        viewer.get_by_role("button", name=re.compile("Open", re.I)).click()
        expect(viewer.locator("#unlock-error")).to_be_visible()
        check(viewer, "viewer wrong password", problems)
        viewer.get_by_label("Password").fill("Blue-Heron-2019")
        viewer.get_by_role("button", name=re.compile("Open", re.I)).click()
        expect(viewer.locator("#unlock")).to_be_hidden()
        # A panel's values are in its components: the blood pressure row is not blank.
        pressure = viewer.locator("tbody tr", has_text="Blood pressure").first
        expect(pressure).to_contain_text("Systolic")
        expect(viewer.locator("#labs tbody")).not_to_contain_text("10^3")
        check(viewer, "viewer record", problems)
        viewer.goto(link.split("#")[0])
        check(viewer, "viewer without a link", problems)
    finally:
        viewer_ctx.close()
    assert not problems, "\n".join(problems)


def test_account_menu_has_a_name_and_closes_by_keyboard_and_pointer(page: Page) -> None:
    sign_in(page, *JANE)
    page.set_viewport_size(PHONE)
    button = page.locator(".user-menu > summary")
    expect(button).to_have_accessible_name(re.compile("Account menu.*Jane Doe"))
    button.focus()
    page.keyboard.press("Enter")
    expect(page.locator(".user-menu .menu")).to_be_visible()
    page.keyboard.press("Tab")
    page.keyboard.press("Escape")
    expect(page.locator(".user-menu .menu")).to_be_hidden()
    assert page.evaluate("() => document.activeElement.matches('.user-menu > summary')")
    button.click()
    expect(page.locator(".user-menu .menu")).to_be_visible()
    page.locator(".site-footer").click()
    expect(page.locator(".user-menu .menu")).to_be_hidden()
    # The Download menu closes the same way.
    page.set_viewport_size(DESKTOP)
    download = page.locator("details.download-menu > summary")
    download.click()
    expect(page.locator(".download-panel")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator(".download-panel")).to_be_hidden()
    assert page.evaluate("() => document.activeElement.matches('details.download-menu > summary')")
