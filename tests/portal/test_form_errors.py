"""After a refused form, on every form: focus is on the error summary, each message links to
its field, and every invalid field has aria-invalid and an aria-describedby naming its message."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests.portal.conftest import fill_password, sign_in
from tests.portal.test_messages_support import PASSWORD, member, practice_message
from tests.portal.test_send_record import fill_form
from tests.support.mail import link_in
from tests.support.portal import invite, new_patient


def refused(page: Page, expected: dict[str, str], *, valid: tuple[str, ...] = ()) -> None:
    """The summary has the focus; each field in ``expected`` is invalid and described by a
    message containing the text; the fields in ``valid`` are not marked."""
    summary = page.locator("[data-error-summary]")
    expect(summary).to_be_focused()
    for field, text in expected.items():
        element = page.locator(f"#{field}")
        expect(element).to_have_attribute("aria-invalid", "true")
        described = (element.get_attribute("aria-describedby") or "").split()
        messages = " ".join(page.locator(f"#{i}").inner_text() for i in described)
        assert text in messages, (field, messages)
        assert summary.locator(f'a[href="#{field}"]').count() or text in summary.inner_text()
    for field in valid:
        assert page.locator(f"#{field}").get_attribute("aria-invalid") is None, field


def test_an_absent_error_marks_nothing() -> None:
    from jinja2 import Undefined

    from fhir_server.portal.forms import Problem, error_summary, invalid
    assert invalid([Undefined(), None], "from") == "" and error_summary([None, ""]) == ""
    both = [Problem("Too early.", "from"), Problem("Whole form."), Problem("Both.", "from", "to")]
    assert invalid(both, "from", "hint") == ' aria-invalid="true" aria-describedby="hint problem-1 problem-3"'
    assert invalid(both, "to") == ' aria-invalid="true" aria-describedby="problem-3"'
    assert '<li id="problem-2">Whole form.</li>' in error_summary(both)


def test_sign_in_registration_and_reset_forms(page: Page, server: Any, admin: httpx.Client, smtp: Any) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill("someone@example.org")
    page.get_by_role("button", name="Sign in").click()
    refused(page, {"password": "Please enter your email", "birth_date": "Please enter your email"}, valid=("email",))
    page.get_by_label("Password").fill("Wrong-Password-1")
    page.get_by_label("Date of birth").fill("1970-01-01")
    page.get_by_role("button", name="Sign in").click()
    refused(page, {"email": "do not match", "password": "do not match", "birth_date": "do not match"})
    # A message in the summary moves the focus to its field.
    page.locator("[data-error-summary] a").first.click()
    expect(page.get_by_label("Email")).to_be_focused()

    page.goto("/forgot-password")
    page.get_by_role("button", name="Email me a reset link").click()
    refused(page, {"email": "Please enter the email address"})

    person = new_patient(admin, given="Fern")
    assert invite(server, person).status_code == 200
    page.goto(link_in(smtp.wait_for(person.email, "Complete your registration"), "/register"))
    fill_password(page, "Quiet-Harbour-77", "Quiet-Harbour-78")
    page.get_by_role("button", name="Create my account").click()
    refused(page, {"password_confirm": "The two passwords must match"}, valid=("password",))
    fill_password(page, "short")
    page.get_by_role("button", name="Create my account").click()
    refused(page, {"password": "An upper-case letter"})
    # The password's own rules stay part of its description.
    assert "rules" in (page.locator("#password").get_attribute("aria-describedby") or "").split()
    fill_password(page, person.password)
    page.get_by_role("button", name="Create my account").click()
    page.wait_for_url("**/health?notice=registered")
    page.context.clear_cookies()

    page.goto("/forgot-password")
    page.get_by_label("Email").fill(person.email)
    page.get_by_role("button", name="Email me a reset link").click()
    page.goto(link_in(smtp.wait_for(person.email, "Reset your"), "/reset-password"))
    fill_password(page, "alllowercase1!")
    page.get_by_role("button", name="Change my password").click()
    refused(page, {"password": "An upper-case letter"})


def test_the_forms_of_a_signed_in_patient(page: Page, server: Any, admin: httpx.Client, smtp: Any) -> None:
    who = member(server, admin, smtp, given="Greta")
    message = practice_message(admin, who.person.patient_id, subject="Check-in", text="How are you?")
    sign_in(page, who.person.email, PASSWORD, who.person.birth_date)

    page.goto("/messages/new")
    page.get_by_label("Subject").fill("x" * 5)
    page.get_by_role("button", name="Send message").click()
    refused(page, {"category": "Choose a category", "body": "Write your message."}, valid=("subject",))

    page.goto(f"/messages/{message['id']}")
    page.get_by_label("Your reply").fill("   ")
    page.get_by_role("button", name="Send reply").click()
    refused(page, {"reply-body": "Write your message."})

    page.goto("/users")
    page.get_by_label("Their email").fill("not an email")
    page.get_by_role("button", name="Send invitation").click()
    refused(page, {"invite-email": "Enter the person's email address", "invite-birth-date": "date of birth"},
            valid=("invite-name", "invite-relationship"))

    page.goto("/send-record")
    fill_form(page, f"dr.{uuid.uuid4().hex[:6]}@example.net", "2019-12-31", "2019-01-01", "Blue-Heron-2019",
              confirm="Blue-Heron-2018")
    page.get_by_role("button", name="Send Record").click()
    refused(page, {"end": "The end date is before the start date", "start": "The end date is before",
                   "password_confirm": "The two passwords must match"}, valid=("recipient", "password", "notes"))

    page.goto("/health/documents?from=2024-01-01&to=2020-01-01")
    refused(page, {"from": "The start date is after the end date.", "to": "The start date is after the end date."})
    page.goto("/health/download/summary?from=2024-02-31")
    refused(page, {"from": "The start date is not a date."}, valid=("to",))


def test_a_password_can_be_shown_and_hidden_again(page: Page) -> None:
    page.goto("/login")
    password = page.get_by_label("Password", exact=True)
    password.fill("Secret-Words-42")
    toggle = page.get_by_role("button", name="Show password")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    toggle.click()
    expect(password).to_have_attribute("type", "text")
    expect(toggle).to_have_attribute("aria-pressed", "true")
    toggle.click()
    expect(password).to_have_attribute("type", "password")
    expect(toggle).to_have_attribute("aria-pressed", "false")
