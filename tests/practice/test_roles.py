"""Roles, decided in the one door (``access.py``): front-desk cannot open the chart, share
documents or read the access log; only administrators manage staff and register or remove
apps. Each refusal is a 403 page that says why, changes nothing, and is audited. The
administrator's Staff and Apps pages at work."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.sync_api import BrowserContext, Page, expect

from tests.practice.conftest import shot
from tests.support.portal import form_post
from tests.support.practice import into_browser, unique_staff_email


def refusals_by(admin: httpx.Client, practitioner: str) -> list[str]:
    events = admin.get("/AuditEvent", params={"agent": practitioner, "outcome": "4", "_count": "100"}).json()
    return [e["resource"].get("outcomeDesc", "") for e in events.get("entry", [])]


def test_front_desk_cannot_open_the_chart_share_documents_or_manage_staff(
        server: Any, admin: httpx.Client, db: Any, front_desk: Any) -> None:
    member, client = front_desk
    practitioner = f"Practitioner/{db['staff'].find_one({'email': member.email})['practitioner_id']}"
    docs = admin.get("/DocumentReference", params={"patient": "jane-doe", "_count": "1"}).json()["entry"]
    doc_id = docs[0]["resource"]["id"]
    before = admin.get("/DocumentReference", params={"patient": "jane-doe", "_summary": "count"}).json()["total"]

    chart = client.get(f"/practice/patients/jane-doe/documents/{doc_id}")
    assert chart.status_code == 403 and "does not allow you to open a patient&#39;s chart" in chart.text
    shared = form_post(client, "/practice/patients/jane-doe/documents",
                       {"title": "Note", "doc_type": "11506-3", "when": "2026-01-01", "note": "Hello"})
    assert shared.status_code == 403 and "does not allow you to share documents" in shared.text
    assert client.get("/practice/patients/jane-doe/access-log").status_code == 403
    assert client.get("/practice/staff").status_code == 403
    added = form_post(client, "/practice/staff", {"email": unique_staff_email("sneaky"), "name": "S", "role": "admin"})
    assert added.status_code == 403
    page = client.get("/practice/patients/jane-doe")
    assert page.status_code == 200 and "Jane" in page.text and "Lab results" not in page.text
    assert "Share a document" not in page.text and "Access log" not in page.text

    after = admin.get("/DocumentReference", params={"patient": "jane-doe", "_summary": "count"}).json()["total"]
    assert after == before
    assert db["staff"].count_documents({"name": "S"}) == 0
    refused = refusals_by(admin, practitioner)
    for said in ("open a patient's chart", "share documents", "read the access log", "manage staff accounts"):
        assert any(f"does not allow you to {said}" in d for d in refused), (said, refused)


def test_clinicians_see_the_apps_but_only_admins_manage_staff_and_apps(server: Any, clinician: Any) -> None:
    _, client = clinician
    assert client.get("/practice/apps").status_code == 200
    assert client.get("/practice/staff").status_code == 403
    refused = form_post(client, "/practice/apps", {"name": "Rogue", "kind": "public",
                                                   "redirect_uris": "https://rogue.example.org/cb"})
    assert refused.status_code == 403 and "does not allow you to manage registered apps" in refused.text
    assert "Rogue" not in client.get("/practice/apps").text


def test_an_admin_adds_and_removes_staff_and_registers_and_removes_an_app(
        server: Any, smtp: Any, practice_admin: Any, context: BrowserContext, page: Page) -> None:
    me, client = practice_admin
    into_browser(context, server, client)
    page.goto("/practice/staff")
    email = unique_staff_email("tom")
    page.get_by_label("Name").fill("Tom Baker")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Role").select_option("front-desk")
    page.get_by_role("button", name="Add and send the invite").click()
    expect(page.get_by_role("status")).to_contain_text("The staff member was added")
    row = page.get_by_role("row").filter(has_text=email)
    expect(row).to_contain_text("front-desk")
    expect(row).to_contain_text("invited")
    smtp.wait_for(email, "practice console account")
    page.get_by_role("button", name="Resend invite to Tom Baker").click()
    expect(page.get_by_role("status")).to_contain_text("A new invite was sent")
    smtp.wait_for(email, "practice console account", after=1)
    again = form_post(client, "/practice/staff", {"email": email, "name": "Tom Again", "role": "admin"})
    assert again.status_code == 400 and "already uses" in again.text
    shot(page, "practice-staff")
    expect(page.get_by_role("button", name=f"Remove {me.name}")).to_have_count(0)  # not yourself
    page.get_by_role("button", name="Remove Tom Baker").click()
    expect(page.get_by_role("status")).to_contain_text("The staff account was removed")
    expect(page.get_by_role("row").filter(has_text=email)).to_have_count(0)

    page.goto("/practice/apps")
    page.get_by_label("App name").fill("Symptom diary")
    page.get_by_label("Kind").select_option("confidential")
    page.get_by_label("Redirect URIs (one per line)").fill("https://diary.example.org/callback")
    page.get_by_role("button", name="Register the app").click()
    expect(page.locator(".client-secret")).to_be_visible()
    client_id = page.locator(".client-id").inner_text()
    expect(page.get_by_role("row").filter(has_text=re.compile("Symptom diary"))).to_contain_text(client_id)
    shot(page, "practice-apps")
    bad = form_post(client, "/practice/apps", {"name": "No redirect", "kind": "public", "redirect_uris": ""})
    assert bad.status_code == 400 and "needs at least one redirect URI" in bad.text
    page.get_by_role("button", name="Remove Symptom diary", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("The app was removed")
    expect(page.get_by_role("row").filter(has_text=re.compile("Symptom diary"))).to_have_count(0)
