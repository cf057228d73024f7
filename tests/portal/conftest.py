"""Portal fixtures: a real SMTP server (aiosmtpd) catching the mail, one headless Chromium
per session and a fresh browser context per test, and small factories for the flows."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.mailbox import Mailbox  # noqa: F401  (re-exported for the portal tests)

SCREENSHOTS = Path(__file__).resolve().parents[1] / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def link_in(message: EmailMessage, path: str) -> str:
    match = re.search(rf"https?://\S+{re.escape(path)}\?token=[\w-]+", text_of(message))
    assert match, text_of(message)
    return match.group(0)


@pytest.fixture
def context(browser: Browser, server: Any) -> Iterator[BrowserContext]:
    ctx = browser.new_context(base_url=server.url, viewport=DESKTOP)
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def shot(page: Page, name: str) -> None:
    """Screenshots of the current page at phone and desktop width."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size or DESKTOP
    for label, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(viewport)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(size)


@dataclass
class Person:
    patient_id: str
    email: str
    birth_date: str
    name: str


def new_patient(admin: httpx.Client, *, given: str = "Ada", family: str = "Testperson",
                birth_date: str = "1971-05-06") -> Person:
    """A Patient with no portal account yet (and a unique email for their invite)."""
    response = admin.post("/Patient", headers={"Content-Type": "application/fhir+json"}, json={
        "resourceType": "Patient", "name": [{"given": [given], "family": family}], "birthDate": birth_date})
    assert response.status_code == 201, response.text
    patient_id = response.json()["id"]
    return Person(patient_id=patient_id, email=f"{given.lower()}.{uuid.uuid4().hex[:8]}@example.net",
                  birth_date=birth_date, name=f"{given} {family}")


def invite(server: Any, person: Person, *, email: str | None = None) -> httpx.Response:
    """``POST /fhir/Patient/{id}/$invite`` with a practice administration token."""
    token = server.token("system/Patient.cruds")
    return httpx.post(f"{server.fhir}/Patient/{person.patient_id}/$invite", timeout=30,
                      headers={"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"},
                      json={"resourceType": "Parameters",
                            "parameter": [{"name": "email", "valueString": email or person.email}]})


def fill_password(page: Page, password: str, confirm: str | None = None) -> None:
    page.get_by_label("New password").fill(password)
    page.get_by_label("Type the password again").fill(password if confirm is None else confirm)


def sign_in(page: Page, email: str, password: str, birth_date: str) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_label("Date of birth").fill(birth_date)
    page.get_by_role("button", name="Sign in").click()
