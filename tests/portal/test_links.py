"""Expired, used and replaced links show a page that says so and asks for a resend."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from playwright.sync_api import Page, expect

from tests.portal.conftest import Mailbox, fill_password, invite, link_in, new_patient, shot


def token_hash(link: str) -> str:
    return hashlib.sha256(parse_qs(urlsplit(link).query)["token"][0].encode()).hexdigest()


def test_invite_lasts_four_days_and_only_its_hash_is_stored(server: Any, admin: httpx.Client, smtp: Mailbox,
                                                             db: Any) -> None:
    person = new_patient(admin)
    assert invite(server, person).status_code == 200
    link = link_in(smtp.wait_for(person.email, "Complete your registration"), "/register")
    stored = db["portal_links"].find_one({"_id": token_hash(link)})
    assert stored and stored["state"] == "open"
    assert stored["expires"] - stored["created"] == timedelta(days=4)
    token = parse_qs(urlsplit(link).query)["token"][0]
    assert token not in str(stored)


def test_expired_invite_asks_to_ask_the_practice(page: Page, server: Any, admin: httpx.Client, smtp: Mailbox,
                                                 db: Any) -> None:
    person = new_patient(admin)
    assert invite(server, person).status_code == 200
    link = link_in(smtp.wait_for(person.email, "Complete your registration"), "/register")
    db["portal_links"].update_one({"_id": token_hash(link)},
                                  {"$set": {"expires": datetime.now(UTC) - timedelta(minutes=1)}})
    page.goto(link)
    expect(page.get_by_role("heading", name="This link can no longer be used")).to_be_visible()
    expect(page.get_by_text("It has expired.")).to_be_visible()
    expect(page.get_by_text("ask the practice to resend your invitation")).to_be_visible()
    shot(page, "link-expired")


def test_used_invite_cannot_register_twice(page: Page, server: Any, admin: httpx.Client, smtp: Mailbox) -> None:
    person = new_patient(admin)
    assert invite(server, person).status_code == 200
    link = link_in(smtp.wait_for(person.email, "Complete your registration"), "/register")
    page.goto(link)
    fill_password(page, "Good-Password-9")
    page.get_by_role("button", name="Create my account").click()
    expect(page).to_have_url(f"{server.url}/health?notice=registered")
    page.goto(link)
    expect(page.get_by_text("It has already been used.")).to_be_visible()
    expect(page.get_by_text("ask the practice to resend")).to_be_visible()
    shot(page, "link-used")
    # And the practice cannot invite a registered patient again.
    response = invite(server, person)
    assert response.status_code == 409
    assert "already has a portal account" in response.json()["issue"][0]["diagnostics"]


def test_resend_kills_the_older_link(page: Page, server: Any, admin: httpx.Client, smtp: Mailbox) -> None:
    person = new_patient(admin)
    assert invite(server, person).status_code == 200
    first = link_in(smtp.wait_for(person.email, "Complete your registration"), "/register")
    second_response = invite(server, person)
    assert "earlier link no longer works" in second_response.json()["issue"][0]["diagnostics"]
    second = link_in(smtp.wait_for(person.email, "Complete your registration", after=1), "/register")
    assert first != second
    page.goto(first)
    expect(page.get_by_text("A newer link has been sent since")).to_be_visible()
    page.goto(second)
    expect(page.get_by_role("heading", name="Complete your registration")).to_be_visible()
