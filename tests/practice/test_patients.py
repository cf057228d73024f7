"""Patients in the console: search by name, birth date or identifier; a patient's page with
the portal status (not invited, invited, registered, locked), family members with access and the
record as the patient sees it; the portal invite; sharing a document the patient then opens; and
the access log of who opened the record."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.portal.conftest import DESKTOP
from tests.portal.conftest import sign_in as portal_sign_in
from tests.practice.conftest import shot
from tests.support.mail import link_in
from tests.support.portal import FHIR_JSON, csrf_of, form_post, registered_patient
from tests.support.practice import into_browser

MRN = "http://riverbend.example.org/mrn"
PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj "
       b"3 0 obj<</Type/Page/MediaBox[0 0 200 200]/Parent 2 0 R>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")


def new_patient(admin: httpx.Client, family: str, birth_date: str = "1960-02-03") -> tuple[str, str]:
    mrn = uuid.uuid4().hex[:8].upper()
    created = admin.post("/Patient", headers=FHIR_JSON, json={
        "resourceType": "Patient", "name": [{"given": ["Zelda"], "family": family}], "birthDate": birth_date,
        "identifier": [{"system": MRN, "value": mrn, "type": {"text": "MRN"}}],
        "telecom": [{"system": "email", "value": f"zelda.{mrn.lower()}@example.net"}]})
    assert created.status_code == 201, created.text
    return created.json()["id"], mrn


def test_search_by_name_birth_date_and_identifier(server: Any, admin: httpx.Client, front_desk: Any) -> None:
    _, client = front_desk
    family = f"Quartz{uuid.uuid4().hex[:5]}"
    patient_id, mrn = new_patient(admin, family)
    new_patient(admin, family, birth_date="1999-09-09")  # a namesake, told apart by birth date
    by_name = client.get("/practice/patients", params={"name": family})
    assert by_name.status_code == 200 and by_name.text.count(f"Zelda {family}") == 2
    assert "not invited" in by_name.text
    by_both = client.get("/practice/patients", params={"name": family, "birth_date": "1960-02-03"})
    assert by_both.text.count(f"Zelda {family}") == 1 and f"/practice/patients/{patient_id}" in by_both.text
    by_mrn = client.get("/practice/patients", params={"identifier": mrn})
    assert by_mrn.text.count(f"Zelda {family}") == 1 and f"MRN {mrn}" in by_mrn.text
    nobody = client.get("/practice/patients", params={"name": "Nobody" + uuid.uuid4().hex})
    assert nobody.status_code == 200 and "No patient matches this search." in nobody.text
    bad = client.get("/practice/patients", params={"birth_date": "1960-13"})
    assert bad.status_code == 400 and "Enter the date of birth as a full date" in bad.text


def test_portal_status_invite_and_reinvite_family_and_lock(
        server: Any, admin: httpx.Client, smtp: Any, front_desk: Any, context: BrowserContext, page: Page) -> None:
    _, client = front_desk
    patient_id, _ = new_patient(admin, f"Invitee{uuid.uuid4().hex[:5]}")
    into_browser(context, server, client)
    page.goto(f"/practice/patients/{patient_id}")
    expect(page.locator(".portal-status")).to_have_text("not invited")
    email = f"zelda.{uuid.uuid4().hex[:6]}@example.net"
    page.get_by_label("Email for the invite").fill(email)
    page.get_by_role("button", name="Invite to the portal").click()
    expect(page.get_by_role("status")).to_contain_text("The invite was sent")
    expect(page.locator(".portal-status")).to_have_text("invited")
    first = link_in(smtp.wait_for(email, "Complete your registration"), "/register")
    page.get_by_role("button", name="Send a new invite").click()
    second = link_in(smtp.wait_for(email, "Complete your registration", after=1), "/register")
    assert first != second
    with httpx.Client(base_url=server.url, timeout=30) as anon:
        assert anon.get(first, follow_redirects=True).status_code == 410  # the older link stopped working
    shot(page, "practice-patient-front-desk")
    # Without chart rights the page shows no results or documents.
    expect(page.get_by_role("heading", name="Documents")).to_have_count(0)

    # Jane (demo) is registered and her daughter Sophie has access.
    page.goto("/practice/patients/jane-doe")
    expect(page.locator(".portal-status")).to_have_text("registered")
    expect(page.locator("#portal")).to_contain_text("Sophie")
    expect(page.get_by_role("button", name="Invite to the portal")).to_have_count(0)
    refused = form_post(client, "/practice/patients/jane-doe/invite", {"email": "jane.doe@example.org"})
    assert refused.status_code == 400 and "already has a portal account" in refused.text

    # A patient whose sign-in is paused shows as locked.
    person = registered_patient(server, admin, smtp, given="Lockie")
    with httpx.Client(base_url=server.url, timeout=30) as guesser:
        token = csrf_of(guesser)
        for _ in range(5):
            guesser.post("/login", data={"email": person.email, "password": "Wrong-Guess-1!",
                                         "birth_date": person.birth_date, "csrf_token": token})
    page.goto(f"/practice/patients/{person.patient_id}")
    expect(page.locator(".portal-status")).to_have_text("locked")


def test_a_shared_document_is_opened_by_the_patient_and_the_access_log_names_who_opened_the_record(
        server: Any, admin: httpx.Client, smtp: Any, clinician: Any, browser: Browser, context: BrowserContext,
        page: Page) -> None:
    staff, client = clinician
    person = registered_patient(server, admin, smtp, given="Doris")
    into_browser(context, server, client)
    page.goto(f"/practice/patients/{person.patient_id}")
    expect(page.get_by_role("heading", name="Lab results (as the patient sees them)")).to_be_visible()
    page.get_by_label("Title").fill("After-visit instructions")
    page.get_by_label("Type").select_option(label="Instructions")
    page.get_by_label("Or write a note").fill("Drink plenty of water.\nCall us if your temperature is over 38 °C.")
    shot(page, "practice-patient-clinician")
    page.get_by_role("button", name="Share with the patient").click()
    expect(page.get_by_role("status")).to_contain_text("The document was shared")
    expect(page.locator("#documents .doc-title")).to_contain_text(["After-visit instructions"])

    # A PDF too, and what is wrong with an upload is said in place with nothing stored.
    pdf = client.post(f"/practice/patients/{person.patient_id}/documents",
                      data={"csrf_token": client.cookies["carespace_csrf"], "title": "Scan results",
                            "doc_type": "18748-4", "when": "2026-11-02"},
                      files={"file": ("scan.pdf", PDF, "application/pdf")})
    assert pdf.status_code == 303, pdf.text
    bad = client.post(f"/practice/patients/{person.patient_id}/documents",
                      data={"csrf_token": client.cookies["carespace_csrf"], "title": "", "doc_type": "x",
                            "when": "2999-01-01"}, files={"file": ("virus.exe", b"MZ\x90", "application/x-msdownload")})
    assert bad.status_code == 400
    for problem in ("Give the document a title", "Choose the type of document", "cannot be in the future",
                    "Attach a PDF or a text (.txt) file"):
        assert problem in bad.text
    docs = admin.get("/DocumentReference", params={"patient": person.patient_id}).json()["entry"]
    assert sorted(d["resource"]["description"] for d in docs) == ["After-visit instructions", "Scan results"]
    scan = next(d["resource"] for d in docs if d["resource"]["description"] == "Scan results")
    practitioner = scan["author"][0]["reference"]
    assert scan["type"]["coding"][0]["code"] == "18748-4" and scan["date"].startswith("2026-11-02")

    patient_context = browser.new_context(base_url=server.url, viewport=DESKTOP)
    try:
        patient_page = patient_context.new_page()
        portal_sign_in(patient_page, *person.credentials)
        patient_page.goto("/health")
        patient_page.get_by_role("link", name="After-visit instructions").click()
        expect(patient_page.locator("body")).to_contain_text("Call us if your temperature is over 38 °C.")
        opened = patient_page.request.get(f"/health/documents/{scan['id']}/file")
        assert opened.status == 200 and opened.headers["content-type"] == "application/pdf" and opened.body() == PDF
    finally:
        patient_context.close()

    page.goto(f"/practice/patients/{person.patient_id}/access-log")
    rows = page.get_by_role("row")
    expect(rows.filter(has_text=staff.name).first).to_contain_text("care team")
    expect(rows.filter(has_text=person.name).first).to_contain_text("the patient")
    shot(page, "practice-access-log")
    assert practitioner.startswith("Practitioner/")


def test_unknown_patient_is_a_not_found_page(clinician: Any) -> None:
    _, client = clinician
    missing = client.get("/practice/patients/no-such-patient")
    assert missing.status_code == 404 and "We could not find that patient" in missing.text
