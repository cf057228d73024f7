"""Times a person reads are local: the browser's zone where the page runs its script, the
practice's zone (CARESPACE_TIMEZONE) in the server's text and in mails, one date style, and
"UTC" nowhere."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.portal.conftest import DESKTOP, shot, sign_in
from tests.portal.test_messages_support import PASSWORD, Member, member, practice_message
from tests.support.mail import text_of
from tests.support.portal import sign_in as http_sign_in

LATE_EVENING_UTC = "2026-03-10T23:30:00Z"  # 8:30 AM the next day in Tokyo, 7:30 PM in New York
STYLE = re.compile(r"[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d{2} [AP]M")


@pytest.fixture
def tokyo(browser: Browser, server: Any) -> Iterator[BrowserContext]:
    ctx = browser.new_context(base_url=server.url, viewport=DESKTOP, timezone_id="Asia/Tokyo", locale="en-US")
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture
def kenji(server: Any, admin: httpx.Client, smtp: Any) -> Member:
    return member(server, admin, smtp, given="Kenji")


def test_the_browser_shows_times_in_its_own_zone(tokyo: BrowserContext, kenji: Member, admin: httpx.Client,
                                                 smtp: Any) -> None:
    message = practice_message(admin, kenji.person.patient_id, subject="Your results are in",
                               text="All within range.", sent=LATE_EVENING_UTC)
    page: Page = tokyo.new_page()
    sign_in(page, kenji.person.email, PASSWORD, kenji.person.birth_date)
    page.goto("/messages")
    expect(page.locator(".msg-row").first).to_contain_text("Mar 11, 2026")
    page.goto(f"/messages/{message['id']}")
    expect(page.locator(".msg-card time").first).to_have_text("Mar 11, 2026, 8:30 AM")
    assert page.locator("time").first.get_attribute("datetime") == LATE_EVENING_UTC
    assert "UTC" not in page.locator("body").inner_text()
    shot(page, "messages-thread-local-time")
    # The invite mail names its expiry in the same style, with no zone name.
    invite = text_of(smtp.wait_for(kenji.person.email, "Complete your registration"))
    assert STYLE.search(invite) and "UTC" not in invite


def test_without_script_the_practice_zone_is_shown(start_server: Callable[..., Any], server: Any, kenji: Member,
                                                   admin: httpx.Client) -> None:
    message = practice_message(admin, kenji.person.patient_id, subject="Night call", text="Call us back.",
                               sent=LATE_EVENING_UTC)
    # A second server on the same data, in New York: what a page without JavaScript reads.
    new_york = start_server(timezone="America/New_York", database_name=server.settings.database_name,
                            data_dir=server.settings.data_dir)
    with new_york as other, http_sign_in(other, *kenji.person.credentials) as client:
        html = client.get(f"/messages/{message['id']}").text
    assert re.search(r'<time datetime="2026-03-10T23:30:00Z" data-local="moment">Mar 10, 2026, 7:30 PM</time>', html)
    assert "UTC" not in re.sub(r"<[^>]+>", " ", html)
