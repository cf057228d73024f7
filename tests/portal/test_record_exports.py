"""The record sections leave the portal too: in the Download bundle, in the readable summary,
and in a record sent with Send Record (the recipient's viewer shows them)."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import httpx
from playwright.sync_api import Browser, Page, expect

from tests.mailbox import Mailbox
from tests.portal.conftest import DESKTOP, shot, sign_in
from tests.portal.record_seed import seed_record
from tests.portal.test_send_record import fill_form, viewer_link
from tests.support.portal import registered_patient

SECTION_TYPES = {"Condition", "MedicationRequest", "MedicationStatement", "AllergyIntolerance", "Immunization",
                 "Observation", "Encounter", "Appointment", "CareTeam", "DocumentReference"}


def test_download_summary_and_sent_record_hold_every_section(page: Page, browser: Browser, server: Any,
                                                             admin: httpx.Client, smtp: Mailbox) -> None:
    person = registered_patient(server, admin, smtp, given="Eda", family="Exporter", birth_date="1970-10-10")
    seed_record(admin, person.patient_id)
    sign_in(page, *person.credentials)
    expect(page).to_have_url(re.compile(r"/health$"))

    download = page.request.get("/health/download/record.json")
    assert download.status == 200
    types = {e["resource"]["resourceType"] for e in json.loads(download.body())["entry"]}
    assert types >= SECTION_TYPES, SECTION_TYPES - types

    page.goto("/health/download/summary")
    for heading, text in (("Problems", "Essential hypertension"), ("Medications", "Lisinopril 10 mg tablet"),
                          ("Allergies", "Penicillin"), ("Immunizations", "Influenza vaccine, quadrivalent"),
                          ("Vitals", "124 mmHg"), ("Visits", "Follow-up visit"), ("Care team", "Rita Moss, MD")):
        expect(page.get_by_role("region", name=heading, exact=True)).to_contain_text(text)
    expect(page.get_by_role("region", name="Vitals", exact=True)).to_contain_text("131 mmHg, 142 mmHg")
    shot(page, "record-summary")
    page.goto("/health/download/summary?from=2025-06-01&to=2025-12-31")  # a period: events inside it only
    expect(page.get_by_role("region", name="Immunizations", exact=True)).to_contain_text("Influenza")
    expect(page.get_by_role("region", name="Visits", exact=True)).to_contain_text("No visits in this period.")
    expect(page.get_by_role("region", name="Problems", exact=True)).to_contain_text("Essential hypertension")

    recipient = f"dr.{uuid.uuid4().hex[:8]}@lakeside-family.example.net"
    page.goto("/send-record")
    fill_form(page, recipient, "2024-01-01", "2026-06-30", "Blue-Heron-2019")
    page.get_by_role("button", name="Send Record").click()
    expect(page.locator("main [role=status]")).to_contain_text(f"Sent to {recipient}")
    link = viewer_link(smtp.wait_for(recipient, "sent you health records"))
    other = browser.new_context(base_url=server.url, viewport=DESKTOP)
    try:
        viewer = other.new_page()
        viewer.goto(link)
        viewer.get_by_label("Password").fill("Blue-Heron-2019")
        viewer.get_by_role("button", name="Open record").click()
        expect(viewer.get_by_role("heading", name="Eda Exporter")).to_be_visible()
        for table, text in (("problems", "Essential hypertension"), ("medications", "1 tablet by mouth once daily"),
                            ("allergies", "Hives (moderate)"), ("immunizations", "Influenza vaccine"),
                            ("visits", "Blood pressure check"), ("care-team", "Primary care physician")):
            expect(viewer.locator(f"#{table}")).to_contain_text(text)
        vitals = viewer.locator("#vitals tbody tr")
        expect(vitals).to_have_count(3 * 2 + 3)  # three pressures as two components, weight, BMI, temperature
        expect(viewer.locator("#vitals")).to_contain_text("Systolic blood pressure")
        expect(viewer.locator("#labs-empty")).to_be_visible()  # vitals are not lab results
        shot(viewer, "shl-viewer-record")
    finally:
        other.close()
