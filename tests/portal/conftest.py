"""Portal fixtures: a real SMTP server (aiosmtpd) catching the mail, one headless Chromium
per session and a fresh browser context per test, and small factories for the flows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.mailbox import Mailbox  # noqa: F401  (re-exported for the portal tests)
from tests.support.mail import html_of, link_in, text_of  # noqa: F401  (re-exported)
from tests.support.portal import Person, invite, new_patient  # noqa: F401  (re-exported)

SCREENSHOTS = Path(__file__).resolve().parents[1] / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


@pytest.fixture
def context(browser: Browser, server: Any) -> Iterator[BrowserContext]:
    ctx = browser.new_context(base_url=server.url, viewport=DESKTOP)
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


_TAKEN: set[str] = set()


def shot(page: Page, name: str) -> None:
    """Screenshots of the current page at phone and desktop width, once per name and run
    (two full-page captures are slow; a page that several tests visit is kept once)."""
    if name in _TAKEN:
        return
    _TAKEN.add(name)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size or DESKTOP
    for label, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(viewport)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(size)


def fill_password(page: Page, password: str, confirm: str | None = None) -> None:
    page.get_by_label("New password").fill(password)
    page.get_by_label("Type the password again").fill(password if confirm is None else confirm)


def sign_in(page: Page, email: str, password: str, birth_date: str) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_label("Date of birth").fill(birth_date)
    page.get_by_role("button", name="Sign in").click()
