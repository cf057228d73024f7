"""Five failures in 15 minutes lock sign-in for 15 minutes, and say so the same way for any email."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from tests.portal.conftest import Mailbox, shot, sign_in

LOCKED = "sign-in is paused for 15 minutes"


def test_five_failures_lock_the_account_and_mail_the_holder(page: Page, server: Any, smtp: Mailbox, db: Any) -> None:
    email, password, birth_date = "maria.alvarez@example.org", "Maria-Demo-2026!", "1979-01-22"
    before = len(smtp.to(email))
    try:
        for attempt in range(5):
            sign_in(page, email, f"Wrong-guess-{attempt}", birth_date)
        expect(page.get_by_role("alert")).to_contain_text(LOCKED)
        shot(page, "login-locked")
        # Even the right details do not get in while locked.
        sign_in(page, email, password, birth_date)
        expect(page.get_by_role("alert")).to_contain_text(LOCKED)
        mail = smtp.wait_for(email, "was paused", after=before)
        assert "5 unsuccessful attempts" in mail.get_body(preferencelist=("plain",)).get_content()
    finally:
        db["login_attempts"].delete_one({"_id": email})
    sign_in(page, email, password, birth_date)
    expect(page).to_have_url(f"{server.url}/health")


def test_an_unknown_email_is_locked_the_same_way(page: Page, db: Any) -> None:
    email = "nobody-at-all@example.net"
    for attempt in range(5):
        sign_in(page, email, f"Wrong-guess-{attempt}", "1980-01-01")
    expect(page.get_by_role("alert")).to_contain_text(LOCKED)
    db["login_attempts"].delete_one({"_id": email})
