"""Manage users in a real browser with real mail: Jane invites two people; one registers and acts
for her, the other is resent and revoked; revocation ends portal access, tokens and refresh."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from playwright.sync_api import Browser, Page, expect

from tests.portal.conftest import Mailbox, fill_password, link_in, shot, sign_in
from tests.smart.helpers import add_client, exchange, fhir_get, make_code, token_request
from tests.support.portal import csrf_post, unique_email

JANE = ("jane.doe@example.org", "Jane-Demo-2026!", "1968-04-12")
PASSWORD = "Kitchen-Table-77"
SUBJECT = "Jane Doe has invited you"


def invite_someone(page: Page, email: str, birth_date: str, name: str = "", relationship: str = "") -> None:
    page.goto("/users")
    page.get_by_label("Their email").fill(email)
    page.get_by_label("Their date of birth").fill(birth_date)
    page.get_by_label("Their name").fill(name)
    if relationship:
        page.get_by_label("Relationship to you").select_option(label=relationship)
    page.get_by_role("button", name="Send invitation").click()


def row(page: Page, email: str) -> Any:
    return page.locator(f'li.person[data-email="{email}"]')


def grant_of(admin: httpx.Client, email: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(RelatedPerson, Consent) of Jane's grant to this email, through the FHIR API."""
    people = admin.get("RelatedPerson", params={"patient": "jane-doe", "email": email}).json()
    person = people["entry"][0]["resource"]
    consents = admin.get("Consent", params={"patient": "jane-doe", "actor": f"RelatedPerson/{person['id']}"}).json()
    return person, consents["entry"][0]["resource"]


def test_invite_register_act_resend_and_revoke(browser: Browser, page: Page, server: Any, admin: httpx.Client,
                                               smtp: Mailbox) -> None:
    liam, nina = unique_email("liam"), unique_email("nina")
    sign_in(page, *JANE)
    expect(page).to_have_url(f"{server.url}/health")
    page.locator(".user-menu summary").click()
    page.get_by_role("link", name="Manage users").click()
    expect(page.get_by_role("heading", name="Manage users")).to_be_visible()
    # The demo delegate is listed as active (and left alone: other tests rely on her).
    expect(row(page, "sophie.doe@example.org")).to_contain_text("Active")

    # A bad form comes back with what was typed and every problem named.
    invite_someone(page, "liam-at-example", "", name="Liam Doe")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Enter the person's email address")
    expect(alert).to_contain_text("Enter the person's date of birth")
    expect(page.get_by_label("Their name")).to_have_value("Liam Doe")
    expect(page.get_by_label("Their email")).to_have_value("liam-at-example")
    shot(page, "users-invite-error")

    invite_someone(page, liam, "1990-03-04", name="Liam Doe", relationship="Son or daughter")
    expect(page.get_by_role("status")).to_contain_text("Invitation sent to Liam Doe")
    invite_someone(page, nina, "1985-07-19", relationship="Caregiver")
    expect(page.get_by_role("status")).to_contain_text(f"Invitation sent to {nina}")
    expect(row(page, liam)).to_contain_text("Invited")
    expect(row(page, liam)).to_contain_text("Son or daughter")
    expect(row(page, nina)).to_contain_text("Invited")
    # Inviting the same person twice is refused in words.
    invite_someone(page, liam.upper(), "1990-03-04")
    expect(page.get_by_role("alert")).to_contain_text("already has an invitation")
    page.goto("/users")
    shot(page, "users-list")

    liam_link = link_in(smtp.wait_for(liam, SUBJECT), "/register")
    nina_first = link_in(smtp.wait_for(nina, SUBJECT), "/register")

    # Resend: a new link, the old one dead.
    row(page, nina).get_by_role("button", name="Resend invite").click()
    expect(page.get_by_role("status")).to_contain_text("The earlier link no longer works")
    nina_second = link_in(smtp.wait_for(nina, SUBJECT, after=1), "/register")
    other = browser.new_context(base_url=server.url)
    nina_page = other.new_page()
    nina_page.goto(nina_first)
    expect(nina_page.get_by_role("heading", name="This link can no longer be used")).to_be_visible()

    # Revoke the pending invite (confirm step, no JS): the new link is dead too.
    row(page, nina).get_by_role("link", name="Revoke access").click()
    expect(page.get_by_role("heading", name="Cancel the invitation")).to_be_visible()
    shot(page, "users-revoke-confirm")
    page.get_by_role("button", name="Revoke access").click()
    expect(page.get_by_role("status")).to_contain_text("has ended")
    expect(row(page, nina)).to_have_count(0)
    nina_page.goto(nina_second)
    expect(nina_page.get_by_role("heading", name="This link can no longer be used")).to_be_visible()
    other.close()

    # Liam registers from the email link and signs in with the birth date Jane entered.
    liam_ctx = browser.new_context(base_url=server.url)
    liam_page = liam_ctx.new_page()
    liam_page.goto(liam_link)
    expect(liam_page.get_by_role("heading", name="Complete your registration")).to_be_visible()
    fill_password(liam_page, PASSWORD)
    liam_page.get_by_role("button", name="Create my account").click()
    expect(liam_page).to_have_url(f"{server.url}/health?notice=registered")  # signed in by registering
    expect(liam_page.locator(".viewing-banner")).to_have_text("Viewing Jane Doe's record · Jane Doe gave you access")
    shot(liam_page, "delegate-health-banner")

    page.goto("/users")
    expect(row(page, liam)).to_contain_text("Active")

    # A delegate never manages the patient's users: 403 on the page and on every POST.
    liam_page.goto("/users")
    expect(liam_page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(liam_page.locator(".viewing-banner")).to_have_text("Viewing Jane Doe's record · Jane Doe gave you access")
    person, consent = grant_of(admin, liam)
    assert csrf_post(liam_page, "/users/invite", {"email": unique_email("x"), "birth_date": "1990-01-01"}) == 403
    assert csrf_post(liam_page, f"/users/{consent['id']}/revoke", {}) == 403
    assert csrf_post(liam_page, "/users/jane-doe-consent-sophie-doe/revoke", {}) == 403
    assert csrf_post(liam_page, "/switch-patient", {"patient_id": "robert-chen"}) == 403

    # The grant through the API.
    assert person["active"] is True and person["birthDate"] == "1990-03-04"
    assert consent["status"] == "active"
    assert consent["provision"]["actor"][0]["reference"]["reference"] == f"RelatedPerson/{person['id']}"
    assert consent["provision"]["actor"][0]["role"]["coding"][0]["code"] == "IRCP"
    assert consent["performer"][0]["reference"] == "Patient/jane-doe"
    assert consent["organization"][0]["reference"] == "Organization/riverbend-oncology"
    assert consent["scope"]["coding"][0]["code"] == "patient-privacy"
    assert consent["provision"]["period"]["start"]
    active = admin.get("Consent", params={"patient": "jane-doe", "status": "active", "_count": "200"}).json()
    assert consent["id"] in {e["resource"]["id"] for e in active["entry"]}
    nina_person, nina_consent = grant_of(admin, nina)
    assert nina_person["active"] is False and nina_consent["status"] == "rejected"
    assert nina_consent["id"] not in {e["resource"]["id"] for e in active["entry"]}

    # A SMART app authorized by Liam works until Jane revokes him.
    client = add_client(server, "public")[0]
    code, verifier = make_code(server, client, "launch/patient offline_access patient/*.rs", patient="jane-doe",
                               fhir_user=f"RelatedPerson/{person['id']}", consent=consent["id"])
    tokens = exchange(server, client, code, verifier).json()
    assert fhir_get(server, tokens["access_token"], "Patient/jane-doe").status_code == 200

    # Jane revokes Liam while he is signed in: his next click ends in the 403 page.
    row(page, liam).get_by_role("link", name="Revoke access").click()
    expect(page.get_by_role("heading", name="Revoke Liam Doe's access?")).to_be_visible()
    page.get_by_role("button", name="Revoke access").click()
    expect(page.get_by_role("status")).to_contain_text("Access for Liam Doe has ended")
    expect(row(page, liam)).to_have_count(0)

    liam_page.goto("/health")
    expect(liam_page.get_by_role("heading", name="Not allowed")).to_be_visible()
    expect(liam_page.get_by_text("Your access to this record has ended")).to_be_visible()
    expect(liam_page.locator(".viewing-banner")).to_have_count(0)
    shot(liam_page, "delegate-access-ended")
    assert fhir_get(server, tokens["access_token"], "Patient/jane-doe").status_code == 401
    refreshed = token_request(server, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
                                       "client_id": client.client_id})
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    person, consent = grant_of(admin, liam)
    assert person["active"] is False and consent["status"] == "inactive" and consent["provision"]["period"]["end"]
    liam_ctx.close()

    # Liam's acceptance, and each page he opened, is audited as him on Jane's behalf.
    events = admin.get("AuditEvent", params={"agent": f"RelatedPerson/{person['id']}", "_count": "100"}).json()
    audited = [e["resource"] for e in events.get("entry", [])]
    assert any(e.get("outcomeDesc") == "delegate invite accepted" for e in audited)
    for event in audited:
        assert event["agent"][0]["requestor"] is True
        assert event["agent"][1]["who"]["reference"] == "Patient/jane-doe"



def test_an_expired_invite_says_so_and_can_be_resent(page: Page, server: Any, admin: httpx.Client, db: Any,
                                                     smtp: Mailbox) -> None:
    omar = unique_email("omar")
    sign_in(page, *JANE)
    invite_someone(page, omar, "1979-12-01", name="Omar Haddad")
    first = link_in(smtp.wait_for(omar, SUBJECT), "/register")
    person, _ = grant_of(admin, omar)
    db["portal_links"].update_many({"subject": f"RelatedPerson/{person['id']}"},
                                   {"$set": {"expires": datetime.now(UTC) - timedelta(hours=1)}})
    page.goto("/users")
    expect(row(page, omar)).to_contain_text("Expired")
    row(page, omar).get_by_role("button", name="Resend invite").click()
    expect(row(page, omar)).to_contain_text("Invited")
    second = link_in(smtp.wait_for(omar, SUBJECT, after=1), "/register")
    assert second != first
    row(page, omar).get_by_role("link", name="Revoke access").click()
    page.get_by_role("button", name="Revoke access").click()
    expect(row(page, omar)).to_have_count(0)
