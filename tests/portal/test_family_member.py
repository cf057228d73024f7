"""A family member sees only what she can use and where her access comes from; message
threads name the real sender and recipient, "you" only for the person signed in; the
patient's Sent list shows what the family member sent for her."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.sync_api import Browser, Page, expect

from tests.portal.conftest import DESKTOP, shot, sign_in
from tests.portal.test_messages_support import PASSWORD, member, practice_message
from tests.support.portal import add_delegate, registered_patient


def _menu(page: Page) -> Any:
    page.locator(".user-menu > summary").click()
    return page.locator(".user-menu .menu")


def test_family_member_menu_threads_and_the_patients_sent_list(page: Page, browser: Browser, server: Any,
                                                               admin: httpx.Client, smtp: Any) -> None:
    patient = member(server, admin, smtp, given="Rosa")
    daughter = registered_patient(server, admin, smtp, given="Mia", family="Helper", birth_date="1996-08-01")
    add_delegate(server, smtp, patient.person, daughter, relationship="CHILD")
    from_practice = practice_message(admin, patient.person.patient_id, subject="Scan results",
                                     text="Your scan looks stable.")

    # The family member, in Rosa's record: no Manage users, and where her access comes from.
    sign_in(page, *daughter.credentials)
    page.goto("/health")
    menu = _menu(page)
    menu_text = menu.inner_text()
    if "View the record of" in menu_text:  # she has her own record too: switch to Rosa's
        menu.get_by_role("button", name=patient.person.name).click()
        menu = _menu(page)
    expect(menu.get_by_role("link", name="Manage users")).to_have_count(0)
    expect(menu).to_contain_text(f"{patient.person.name} gave you access to their record")
    expect(page.locator(".viewing-banner")).to_contain_text(f"{patient.person.name} gave you access")
    shot(page, "family-member-menu")
    page.keyboard.press("Escape")

    page.goto(f"/messages/{from_practice['id']}")
    card = page.locator(".msg-card").first
    expect(card.locator(".msg-card-who")).to_contain_text(f"to {patient.person.name}")
    expect(card.locator(".msg-card-who")).not_to_contain_text("to you")
    page.goto("/messages/new")
    page.get_by_label("Category").select_option("Health")
    page.get_by_label("Subject").fill("Question about Mom's scan")
    page.get_by_label("Message").fill("Should she fast before the next one?")
    page.get_by_role("button", name="Send message").click()
    mine = page.locator(".msg-card").first
    expect(mine.locator(".msg-card-who")).to_contain_text("You")
    expect(mine.locator(".msg-card-who")).to_contain_text(f"to {patient.person.name}'s care team")

    # The patient: her Sent list holds what her daughter sent for her, named as such.
    ctx = browser.new_context(base_url=server.url, viewport=DESKTOP)
    try:
        rosa = ctx.new_page()
        sign_in(rosa, patient.person.email, PASSWORD, patient.person.birth_date)
        expect(_menu(rosa).get_by_role("link", name="Manage users")).to_be_visible()
        rosa.keyboard.press("Escape")
        rosa.goto("/messages/sent")
        row = rosa.locator(".msg-row", has_text="Question about Mom's scan")
        expect(row).to_contain_text(f"{daughter.name}, for you")
        expect(row).to_contain_text("to your care team")
        row.click()
        expect(rosa.locator(".msg-card").first.locator(".msg-card-who")).to_contain_text(f"{daughter.name}, for you")
        shot(rosa, "messages-sent-by-family-member")
        rosa.goto(f"/messages/{from_practice['id']}")
        expect(rosa.locator(".msg-card").first.locator(".msg-card-who")).to_contain_text("to you")
    finally:
        ctx.close()
