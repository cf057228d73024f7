"""Downloads from the Health tab: the streamed FHIR Bundle (parsed with the R4B models, compared
with $everything through the API) and the printable summary."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from fhir.resources.R4B.bundle import Bundle
from playwright.sync_api import Page, expect

from tests.portal.conftest import shot
from tests.portal.test_health import JANE, signed_in
from tests.support.fhir import all_pages


def everything_ids(admin: httpx.Client, patient: str) -> set[str]:
    resources = all_pages(admin, f"/Patient/{patient}/$everything", {"_count": "1000"})
    return {f"{r['resourceType']}/{r['id']}" for r in resources if r["resourceType"] != "AuditEvent"}


def test_the_record_downloads_as_a_bundle_of_exactly_the_patients_resources(page: Page, admin: httpx.Client,
                                                                          tmp_path: Path) -> None:
    signed_in(page, JANE)
    page.get_by_text("Download", exact=True).click()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Health record (FHIR JSON)").click()
    download = download_info.value
    assert download.suggested_filename == "health-record-jane-doe.json"
    target = tmp_path / "record.json"
    download.save_as(target)
    raw = json.loads(target.read_text())
    bundle = Bundle.model_validate(raw)
    assert bundle.type == "collection"
    ids = [f"{e.resource.get_resource_type()}/{e.resource.id}" for e in bundle.entry or []]
    assert len(ids) == len(set(ids))
    assert set(ids) == everything_ids(admin, "jane-doe")
    assert "Patient/robert-chen" not in ids


def test_a_date_range_keeps_the_period_and_the_undated(page: Page, admin: httpx.Client) -> None:
    signed_in(page, JANE)
    response = page.request.get("/health/download/record.json?from=2024-01-01&to=2024-12-31")
    assert response.status == 200
    assert response.headers["content-type"].startswith("application/fhir+json")
    bundle = Bundle.model_validate(response.json())
    resources = [e.resource for e in bundle.entry or []]
    labs = [r for r in resources if r.get_resource_type() == "Observation"]
    # Results dated in the period, and any undated ones (other tests may have written some for Jane).
    dated = [r for r in labs if r.effectiveDateTime or r.effectivePeriod or r.effectiveInstant]
    assert dated and all(str(r.effectiveDateTime)[:4] == "2024" for r in dated)
    assert any(r.get_resource_type() == "Patient" for r in resources)
    bad = page.request.get("/health/download/record.json?from=yesterday")
    assert bad.status == 400 and "start date is not a date" in bad.text()


def test_the_readable_summary_renders_and_prints(page: Page) -> None:
    signed_in(page, JANE)
    page.get_by_text("Download", exact=True).click()
    page.get_by_role("link", name="Readable summary").click()
    expect(page.get_by_role("heading", name="Jane Doe", level=1)).to_be_visible()
    for section in ("Patient", "Lab results", "Documents", "Messages"):
        expect(page.get_by_role("heading", name=section, level=2)).to_be_visible()
    expect(page.get_by_text("Date of birth")).to_be_visible()
    expect(page.get_by_role("button", name="Print or save as PDF")).to_be_visible()
    page.emulate_media(media="print")
    expect(page.locator(".site-header")).to_be_hidden()
    page.emulate_media(media="screen")
    page.goto("/health/download/summary")
    shot(page, "summary")
    page.goto("/health/download/summary?from=2025-01-01&to=2024-01-01")
    expect(page.get_by_role("alert")).to_have_text("The start date is after the end date.")
    expect(page.get_by_label("From")).to_have_value("2025-01-01")
