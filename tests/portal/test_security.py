"""CSRF, cookie flags, the error page, the $invite operation's door, and the dev outbox."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from fhir_server.portal.sessions import safe_next
from tests.portal.conftest import invite, new_patient, shot
from tests.support.portal import csrf_of

JANE = {"email": "jane.doe@example.org", "password": "Jane-Demo-2026!", "birth_date": "1968-04-12"}


def test_a_post_without_the_csrf_token_is_refused(server: Any) -> None:
    with httpx.Client(base_url=server.url) as client:
        client.get("/login")
        response = client.post("/login", data=JANE)
        assert response.status_code == 403
        assert "did not come from this site" in response.text
        assert response.headers["content-type"].startswith("text/html")
        assert "carespace_session" not in response.cookies
        forged = client.post("/login", data={**JANE, "csrf_token": "x" * 43})
        assert forged.status_code == 403


def test_session_cookie_flags_and_sign_out_ends_the_session(server: Any) -> None:
    with httpx.Client(base_url=server.url) as client:
        response = client.post("/login", data={**JANE, "csrf_token": csrf_of(client, "/login")})
        assert response.status_code == 303 and response.headers["location"] == "/health"
        cookie = response.headers["set-cookie"]
        assert cookie.startswith("carespace_session=")
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
        assert "Secure" not in cookie  # the test server's base URL is http
        raw = client.cookies["carespace_session"]
        assert client.get("/health").status_code == 200
        client.post("/logout", data={"csrf_token": csrf_of(client, "/health")})
        client.cookies.set("carespace_session", raw)
        assert client.get("/health").status_code == 303


def test_pages_send_no_referrer_and_tokens_stay_out_of_urls(server: Any) -> None:
    response = httpx.get(f"{server.url}/register?token=nonsense")
    assert response.status_code == 410
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "ask the practice to resend" in response.text


@pytest.mark.parametrize("value, expected", [
    ("/messages?x=1", "/messages?x=1"), ("//evil.example/", "/health"), ("https://evil.example/", "/health"),
    ("/\\evil.example", "/health"), ("health", "/health"), (None, "/health"),
])
def test_next_is_only_followed_to_a_path_on_this_site(value: str | None, expected: str) -> None:
    assert safe_next(value) == expected


def test_unknown_pages_get_the_friendly_error_page(page: Page, server: Any) -> None:
    response = page.goto("/no-such-page")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    shot(page, "error-404")


def test_invite_needs_a_system_token_that_may_update_patients(server: Any, admin: httpx.Client) -> None:
    person = new_patient(admin)
    url = f"{server.fhir}/Patient/{person.patient_id}/$invite"
    body = {"resourceType": "Parameters", "parameter": [{"name": "email", "valueString": person.email}]}
    headers = {"Content-Type": "application/fhir+json"}
    assert httpx.post(url, json=body, headers=headers).status_code == 401
    read_only = server.token("system/Patient.rs")
    assert httpx.post(url, json=body, headers={**headers, "Authorization": f"Bearer {read_only}"}).status_code == 403
    as_patient = {**headers, "Authorization": f"Bearer {server.token('patient/*.cruds', patient=person.patient_id)}"}
    assert httpx.post(url, json=body, headers=as_patient).status_code == 403
    admin_headers = {**headers, "Authorization": f"Bearer {server.token('system/Patient.cruds')}"}
    missing = httpx.post(url, json={"resourceType": "Parameters"}, headers=admin_headers)
    assert missing.status_code == 400 and missing.json()["resourceType"] == "OperationOutcome"
    unknown = httpx.post(f"{server.fhir}/Patient/no-such-patient/$invite", json=body, headers=admin_headers)
    assert unknown.status_code == 404


def test_the_dev_outbox_is_hidden_when_smtp_is_configured(server: Any, smtp: Any) -> None:
    assert httpx.get(f"{server.url}/dev/outbox").status_code == 404


def test_without_smtp_the_demo_outbox_shows_the_invite(browser: Browser, start_server: Any) -> None:
    # A server of its own without SMTP (the shared one keeps its settings).
    with start_server(smtp_url=None) as other, other.client("system/*.cruds") as practice:
        person = new_patient(practice, given="Outbox")
        assert invite(other, person).status_code == 200
        context = browser.new_context(base_url=other.url)
        try:
            page = context.new_page()
            page.goto(f"/dev/outbox?token={other.settings.outbox_token}")  # the link serve --demo prints
            expect(page.get_by_text(f"To {person.email}")).to_be_visible()
            shot(page, "dev-outbox")
            page.locator(".mail a[href*=\"/register?token=\"]").first.click()
            expect(page.get_by_role("heading", name="Complete your registration")).to_be_visible()
        finally:
            context.close()


@pytest.mark.parametrize("age", [{"last_seen": 31}, {"created": 12 * 60 + 1}])
def test_idle_and_absolute_session_timeouts_sign_the_person_out(server: Any, db: Any, age: dict[str, int]) -> None:
    """30 minutes without a request, or 12 hours since sign-in, and the session is over."""
    from datetime import UTC, datetime, timedelta

    from fhir_server.portal.links import digest

    with httpx.Client(base_url=server.url) as client:
        client.post("/login", data={**JANE, "csrf_token": csrf_of(client, "/login")})
        assert client.get("/health").status_code == 200
        key = digest(client.cookies["carespace_session"])
        past = {field: datetime.now(UTC) - timedelta(minutes=minutes) for field, minutes in age.items()}
        db["sessions"].update_one({"_id": key}, {"$set": past})
        response = client.get("/health")
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=")
        assert db["sessions"].find_one({"_id": key}) is None
