"""The record sections in a real browser: each section empty, then holding what was written
through the FHIR API; a refill request opening Compose; a family member reading the record."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests.mailbox import Mailbox
from tests.portal.conftest import shot, sign_in
from tests.portal.record_seed import seed_record
from tests.support.portal import SOPHIE, registered_patient

EMPTY = {"problems": "No current problems on record.", "medications": "No current medications on record.",
         "allergies": "No allergies on record.", "immunizations": "No immunizations on record.",
         "vitals": "No vitals on record yet.", "visits": "No upcoming appointments.",
         "care-team": "No care team on record yet."}


def open_section(page: Page, title: str) -> None:
    page.get_by_role("navigation", name="Health record").get_by_role("link", name=title, exact=True).click()
    expect(page.get_by_role("heading", level=1, name=title)).to_be_visible()


def test_each_section_is_empty_then_shows_what_the_practice_recorded(page: Page, server: Any, admin: httpx.Client,
                                                                      smtp: Mailbox) -> None:
    person = registered_patient(server, admin, smtp, given="Rosa", family="Recordkeeper", birth_date="1962-08-19")
    sign_in(page, *person.credentials)
    expect(page).to_have_url(re.compile(r"/health$"))
    for slug, message in EMPTY.items():
        page.goto(f"/health/{slug}")
        expect(page.locator("p.empty").first).to_contain_text(message)
    shot(page, "record-care-team-empty")

    seed_record(admin, person.patient_id)
    page.goto("/health")
    open_section(page, "Problems")
    current = page.get_by_role("region", name="Current problems")
    expect(current.locator("li.problem")).to_have_count(1)
    expect(current).to_contain_text("Essential hypertension")
    expect(current).to_contain_text("Mar 2, 2019")
    expect(current).to_contain_text("Rita Moss, MD")
    past = page.get_by_role("region", name="Resolved and inactive")
    expect(past.locator("li.problem")).to_have_count(1)
    expect(past).to_contain_text("Community-acquired pneumonia")
    expect(past).to_contain_text("Resolved")
    expect(page.locator("body")).not_to_contain_text("Wrong chart")  # entered in error
    shot(page, "record-problems")

    open_section(page, "Medications")
    now = page.get_by_role("region", name="Current medications")
    expect(now).to_contain_text("Lisinopril 10 mg tablet")
    expect(now).to_contain_text("1 tablet by mouth once daily")
    expect(now).to_contain_text("Take in the morning.")
    before = page.get_by_role("region", name="Past medications")
    expect(before).to_contain_text("Amoxicillin 500 mg capsule")
    expect(before).to_contain_text("1 capsule 3 times a day")
    expect(before.get_by_role("link", name=re.compile("Request a refill"))).to_have_count(0)
    shot(page, "record-medications")

    open_section(page, "Allergies")
    allergy = page.locator("li.allergy")
    expect(allergy).to_have_count(1)
    expect(allergy).to_contain_text("Penicillin")
    expect(allergy).to_contain_text("Hives (moderate)")
    expect(allergy).to_contain_text("High risk")

    open_section(page, "Immunizations")
    row = page.locator("tr.immunization")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Influenza vaccine, quadrivalent")
    expect(row).to_contain_text("Oct 2, 2025")
    expect(row).to_contain_text("Dose 1")

    open_section(page, "Vitals")
    systolic = page.locator('details.vital[data-code="8480-6"]')
    diastolic = page.locator('details.vital[data-code="8462-4"]')
    expect(systolic.locator(".lab-value .value")).to_have_text("124 mmHg")
    expect(diastolic.locator(".lab-value .value")).to_have_text("79 mmHg")
    expect(page.locator("details.vital").first).to_have_attribute("data-code", "8480-6")  # pressure first
    for code, value in (("29463-7", "71.5 kg"), ("39156-5", "24.1 kg/m²"), ("8310-5", "36.8 °C")):
        expect(page.locator(f'details.vital[data-code="{code}"] .lab-value .value')).to_have_text(value)
    systolic.locator("summary").click()
    expect(systolic.locator("table.history tbody tr")).to_have_count(3)
    chart = systolic.get_by_role("group", name=re.compile("^Trend of"))
    expect(chart).to_be_visible()
    assert "lowest 124 mmHg, highest 142 mmHg" in (chart.get_attribute("aria-label") or "")
    shot(page, "record-vitals")

    open_section(page, "Visits")
    upcoming = page.get_by_role("region", name="Upcoming appointments")
    expect(upcoming.locator("li.appointment")).to_have_count(1)
    expect(upcoming).to_contain_text("Blood pressure review")
    expect(upcoming).to_contain_text("2:30 PM")  # the browser's zone (UTC here); never named
    expect(upcoming).not_to_contain_text("UTC")
    visit = page.locator("li.visit")
    expect(visit).to_have_count(1)
    expect(visit).to_contain_text("Follow-up visit")
    expect(visit).to_contain_text("Blood pressure check")
    note = visit.get_by_role("link", name=re.compile("Follow-up visit note"))
    expect(note).to_be_visible()
    shot(page, "record-visits")
    opened = page.request.get((note.get_attribute("href") or "") + "/file")  # the page embeds or offers it
    assert opened.status == 200 and opened.text() == "Follow-up visit. Doing well."

    open_section(page, "Care team")
    members = page.locator("li.member")
    expect(members).to_have_count(2)
    expect(members.first).to_contain_text("Rita Moss, MD")
    expect(members.first).to_contain_text("Primary care physician")
    reach = page.get_by_role("region", name="How to reach the practice")
    expect(reach).to_contain_text("Lakeside Test Clinic")
    expect(reach.get_by_role("link", name="+1-555-0142")).to_have_attribute("href", "tel:+15550142")
    expect(reach).to_contain_text("12 Shore Road, Portland, OR, 97201")
    shot(page, "record-care-team")

    open_section(page, "Medications")
    page.get_by_role("link", name="Request a refill of Lisinopril 10 mg tablet").click()
    expect(page.get_by_role("heading", name="New message")).to_be_visible()
    expect(page.get_by_label("Category")).to_have_value("Rx")
    expect(page.get_by_label("Subject")).to_have_value("Refill request: Lisinopril 10 mg tablet")
    expect(page.get_by_label("Message")).to_contain_text("Lisinopril 10 mg tablet (1 tablet by mouth once daily)")
    assert "Lisinopril" not in page.url  # the link names the medication by id only
    page.get_by_role("button", name="Send message").click()
    expect(page.get_by_text("Your message was sent to your care team.")).to_be_visible()
    sent = admin.get("/Communication", params={"patient": person.patient_id, "_sort": "-sent", "_count": "1"})
    message = sent.json()["entry"][0]["resource"]
    assert message["topic"]["text"] == "Refill request: Lisinopril 10 mg tablet"


def test_a_refill_of_someone_elses_medication_opens_an_empty_form(page: Page, admin: httpx.Client) -> None:
    other = admin.post("/MedicationRequest", headers={"Content-Type": "application/fhir+json"}, json={
        "resourceType": "MedicationRequest", "status": "active", "intent": "order",
        "subject": {"reference": "Patient/robert-chen"}, "medicationCodeableConcept": {"text": "Metformin 500 mg"}})
    assert other.status_code == 201, other.text
    sign_in(page, "jane.doe@example.org", "Jane-Demo-2026!", "1968-04-12")
    expect(page).to_have_url(re.compile(r"/health$"))
    for ref in (f"MedicationRequest/{other.json()['id']}", "Patient/jane-doe", "MedicationRequest/a,b", "%00"):
        page.goto(f"/messages/new?refill={ref}")
        expect(page.get_by_role("heading", name="New message")).to_be_visible()
        expect(page.get_by_label("Subject")).to_have_value("")
        expect(page.get_by_label("Category")).to_have_value("")


def test_a_family_member_reads_the_patients_problems_and_care_team(page: Page) -> None:
    sign_in(page, *SOPHIE)
    expect(page.get_by_role("status")).to_contain_text("Viewing Jane Doe's record")
    open_section(page, "Problems")
    expect(page.get_by_role("region", name="Current problems")).to_contain_text("Invasive ductal carcinoma")
    expect(page.get_by_role("region", name="Current problems")).to_contain_text("Emily Hart, MD")
    expect(page.locator("p.lead")).to_contain_text("for Jane Doe")
    open_section(page, "Medications")  # the demo practice's record of Jane
    expect(page.get_by_role("region", name="Current medications")).to_contain_text("Anastrozole 1 mg oral tablet")
    open_section(page, "Vitals")
    expect(page.locator('details.vital[data-code="8480-6"] .lab-value .value')).to_have_text("118 mmHg")
    open_section(page, "Visits")
    expect(page.locator("li.visit").first.get_by_role("link")).to_have_count(1)  # the note of that visit
    open_section(page, "Care team")
    expect(page.locator("li.member").first).to_contain_text("Emily Hart, MD")
    expect(page.get_by_role("region", name="How to reach the practice")).to_contain_text(
        "Riverbend Oncology Associates")
    shot(page, "record-care-team-delegate")
