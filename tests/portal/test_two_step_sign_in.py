"""Two-step sign-in in the portal: turned on with the QR page and a first code, asked for after
email, password and birth date (not signed in before), counted by the sign-in lockout, and
turned off only with the password and a code. Codes are computed in the test (RFC 6238)."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
from playwright.sync_api import Page, expect
from pymongo.database import Database

from fhir_server import two_step
from tests.mailbox import Mailbox
from tests.portal.conftest import shot, sign_in
from tests.support.mail import text_of
from tests.support.portal import csrf_of, enrol, registered_patient


def next_code(secret: str) -> str:
    """The code of the coming 30-second step: accepted (clock drift) and never used before."""
    return two_step.current_code(secret, time.time() + 30)


def test_two_step_sign_in_end_to_end(page: Page, server: Any, admin: httpx.Client, smtp: Mailbox,
                                     db: Database) -> None:
    person = registered_patient(server, admin, smtp, given="Tova", family="Twostep", birth_date="1980-02-29")
    sign_in(page, *person.credentials)
    expect(page).to_have_url(re.compile(r"/health$"))
    page.locator(".user-menu summary").click()
    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", name="Two-step sign-in")).to_be_visible()
    page.get_by_role("button", name="Turn on two-step sign-in").click()
    expect(page.get_by_role("img", name=re.compile("QR code"))).to_be_visible()
    shot(page, "two-step-setup")
    secret = (page.get_by_test_id("secret").text_content() or "").replace(" ", "")
    assert len(secret) >= 16
    stored = db["accounts"].find_one({"email": person.email})
    assert secret not in str(stored)  # sealed while the set-up waits, too

    page.get_by_label("Code from your app").fill("000000" if two_step.current_code(secret) != "000000" else "111111")
    page.get_by_role("button", name="Turn on").click()
    expect(page.get_by_role("alert")).to_contain_text("That code did not match")
    page.get_by_label("Code from your app").fill(two_step.current_code(secret))
    page.get_by_role("button", name="Turn on").click()
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    codes = [c.strip() for c in page.locator(".recovery-codes code").all_text_contents()]
    assert len(codes) == 10 and len(set(codes)) == 10
    shot(page, "two-step-recovery-codes")
    enrolled = db["accounts"].find_one({"email": person.email})["two_step"]
    assert secret not in str(enrolled) and not any(c in str(enrolled) for c in codes)
    assert "Two-step sign-in was just turned on" in text_of(smtp.wait_for(person.email, "was turned on"))
    page.get_by_role("link", name="I have saved my codes").click()
    expect(page.locator("section.settings-card").first).to_contain_text("Recovery codes left: 10")
    shot(page, "settings")

    page.locator(".user-menu summary").click()
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, *person.credentials)
    expect(page).to_have_url(re.compile(r"/login/code$"))
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    shot(page, "two-step-code")
    assert page.request.get("/health", max_redirects=0).status == 303  # not signed in before the code
    page.get_by_label("Code").fill("12345")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("alert")).to_contain_text("That code did not work")
    page.get_by_label("Code").fill(next_code(secret))
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(re.compile(r"/health$"))

    page.goto("/settings")
    page.get_by_label("Password").fill("Not-The-Password-1!")
    page.get_by_label("Code from your app").fill(codes[0])
    page.get_by_role("button", name="Turn off").click()
    expect(page.get_by_role("alert")).to_contain_text("Two-step sign-in is still on")
    page.get_by_label("Password").fill(person.password)
    page.get_by_label("Code from your app").fill(codes[1])
    page.get_by_role("button", name="Turn off").click()
    expect(page.get_by_role("status")).to_contain_text("Two-step sign-in is off")
    assert "two_step" not in db["accounts"].find_one({"email": person.email})
    smtp.wait_for(person.email, "Two-step sign-in was turned off")
    page.locator(".user-menu summary").click()
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, *person.credentials)
    expect(page).to_have_url(re.compile(r"/health$"))


def test_five_wrong_codes_lock_sign_in_and_end_the_pending_sign_in(server: Any, admin: httpx.Client,
                                                                   smtp: Mailbox) -> None:
    person = registered_patient(server, admin, smtp, given="Lena", family="Lockstep", birth_date="1959-11-03")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        client.post("/login", data={"email": person.email, "password": person.password,
                                    "birth_date": person.birth_date, "csrf_token": csrf_of(client)})
        secret = enrol(client)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        token = csrf_of(client)
        step_one = client.post("/login", data={"email": person.email, "password": person.password,
                                               "birth_date": person.birth_date, "csrf_token": token})
        assert step_one.status_code == 303 and step_one.headers["location"] == "/login/code"
        assert "carespace_session" not in client.cookies
        assert client.get("/health").status_code == 303
        wrong = "000000" if next_code(secret) != "000000" else "111111"
        for attempt in range(4):
            answer = client.post("/login/code", data={"code": wrong, "csrf_token": token})
            assert answer.status_code == 400 and "That code did not work" in answer.text, attempt
        fifth = client.post("/login/code", data={"code": wrong, "csrf_token": token})
        assert fifth.status_code == 429 and "sign-in is paused for 15 minutes" in fifth.text
        smtp.wait_for(person.email, "was paused")
        late = client.post("/login/code", data={"code": next_code(secret), "csrf_token": token})
        assert late.status_code == 400 and "Please sign in again" in late.text
        assert "carespace_session" not in client.cookies
        again = client.post("/login", data={"email": person.email, "password": person.password,
                                            "birth_date": person.birth_date, "csrf_token": token})
        assert again.status_code == 429 and "paused" in again.text
