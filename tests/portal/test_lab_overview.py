"""The lab overview says what matters: out-of-range latest results in a summary at the top,
tumor markers in their own group, tests last done more than a year ago apart, results new
since the person last looked marked, units as lab reports print them, and a long history
shortened on the phone with the reference range kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from fhir_server.portal.health.labs import range_text
from fhir_server.portal.units import display_unit
from tests.portal.conftest import PHONE, shot, sign_in
from tests.support.axe import check
from tests.support.portal import FHIR_JSON, Person, registered_patient


def _lab(admin: httpx.Client, person: Person, code: str, name: str, when: datetime, value: float, unit: str,
         low: float | None = None, high: float | None = None) -> str:
    bounds: dict[str, Any] = {}
    if low is not None:
        bounds["low"] = {"value": low, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}
    if high is not None:
        bounds["high"] = {"value": high, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}
    made = admin.post("/Observation", headers=FHIR_JSON, json={
        "resourceType": "Observation", "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                  "code": "laboratory"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": name}], "text": name},
        "subject": {"reference": f"Patient/{person.patient_id}"},
        "effectiveDateTime": when.isoformat().replace("+00:00", "Z"),
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
        **({"referenceRange": [bounds]} if bounds else {})})
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def test_units_read_like_a_lab_report() -> None:
    assert display_unit("10*3/uL") == "×10³/µL" and display_unit("10^3/uL") == "×10³/µL"
    assert display_unit("umol/L") == "µmol/L" and display_unit("mm[Hg]") == "mmHg"
    assert display_unit("m[IU]/mL") == "mIU/mL" and display_unit("{cells}/uL") == "cells/µL"
    assert display_unit("U/L") == "U/L" and display_unit("{count}") == "" and display_unit("g/dL") == "g/dL"
    # A lab's own range text is printed the same way.
    assert range_text({"referenceRange": [{"text": "1.8-7.7 10^3/uL"}]}) == "1.8-7.7 ×10³/µL"


def test_the_overview_puts_what_matters_first(page: Page, server: Any, admin: httpx.Client, smtp: Any) -> None:
    person = registered_patient(server, admin, smtp, given="Lena", family="Labson")
    now = datetime.now(UTC)
    for months in range(14):  # a long hemoglobin history, all in range
        _lab(admin, person, "718-7", "Hemoglobin", now - timedelta(days=30 * months + 5), 13.0 + months / 10,
             "g/dL", 12.0, 15.5)
    _lab(admin, person, "6690-2", "Leukocytes", now - timedelta(days=10), 6.1, "10*3/uL", 4.0, 11.0)
    _lab(admin, person, "2039-6", "CEA", now - timedelta(days=12), 7.9, "ng/mL", None, 5.0)
    _lab(admin, person, "2345-7", "Glucose", now - timedelta(days=800), 140, "mg/dL", 70, 99)

    sign_in(page, *person.credentials)
    attention = page.locator(".lab-attention")
    expect(attention).to_contain_text("Outside the reference range")
    expect(attention.locator("li")).to_have_count(1)  # the old glucose is not "latest" news
    expect(attention.locator("li")).to_contain_text("CEA")
    panels = [t.strip() for t in page.locator(".labs > .panel-name").all_inner_texts()]
    assert panels[0] == "Tumor markers", panels
    expect(page.locator('details.lab[data-code="6690-2"] .lab-value')).to_contain_text("6.1 ×10³/µL")
    expect(page.locator('details.lab[data-code="6690-2"] .lab-range')).to_contain_text("4.0–11.0 ×10³/µL")
    older = page.locator("details.older-results")
    expect(older.locator("> summary")).to_contain_text("more than a year ago (1)")
    expect(older.locator('details.lab[data-code="2345-7"]')).to_have_count(1)
    expect(page.locator(".badge-new")).to_have_count(0)  # the first look marks nothing

    # A link in the summary opens the test's row.
    attention.get_by_role("link", name="CEA").click()
    expect(page.locator('details.lab[data-code="2039-6"]')).to_have_attribute("open", "")

    # A result that arrives afterwards is new at the next look, and only then.
    fresh = _lab(admin, person, "2039-6", "CEA", now - timedelta(days=1), 8.4, "ng/mL", None, 5.0)
    page.goto("/health")
    expect(page.locator(".lab-new-note")).to_contain_text("1 test has results that arrived since you last looked")
    expect(page.locator('details.lab[data-code="2039-6"] .lab-name .badge-new')).to_have_count(1)
    cea = page.locator('details.lab[data-code="2039-6"]')
    cea.locator("summary").click()
    expect(cea.locator("tbody tr").first.locator(".badge-new")).to_have_count(1)
    assert fresh
    problems: list[str] = []
    check(page, "/health with new results and the summary", problems)
    assert not problems, "\n".join(problems)
    shot(page, "health-overview")

    # On a phone the history keeps its reference range and shows the newest rows first.
    page.set_viewport_size(PHONE)
    page.goto("/health")
    expect(page.locator(".badge-new")).to_have_count(0)
    hemoglobin = page.locator('details.lab[data-code="718-7"]')
    hemoglobin.locator("summary").click()
    rows = hemoglobin.locator("tbody tr")
    expect(rows.nth(0)).to_be_visible()
    expect(rows.nth(0).locator("td").nth(3)).to_be_visible()
    expect(rows.nth(0).locator("td").nth(3)).to_contain_text("12.0–15.5 g/dL")
    expect(rows.nth(10)).to_be_hidden()
    hemoglobin.get_by_role("button", name="Show all 14 results").click()
    expect(rows.nth(13)).to_be_visible()
    shot(page, "health-history-phone-more")
