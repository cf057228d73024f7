"""The Health tab in a real browser: labs (latest per test, history with a trend), documents
(6 recent, then all, filters, opening a PDF), another patient's document, and a delegate."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from fhir_server.portal.health.labs import observation_value
from tests.portal.conftest import shot, sign_in
from tests.support.fhir import all_pages

JANE = ("jane.doe@example.org", "Jane-Demo-2026!", "1968-04-12")
SOPHIE = ("sophie.doe@example.org", "Sophie-Demo-2026!", "1994-02-17")


def lab_codes(admin: httpx.Client, patient: str) -> set[str]:
    labs = all_pages(admin, "/Observation", {"patient": patient, "category": "laboratory", "_count": "1000"})
    return {c["code"] for o in labs for c in o["code"]["coding"] if c["system"] == "http://loinc.org"}


def signed_in(page: Page, who: tuple[str, str, str]) -> None:
    sign_in(page, *who)
    expect(page).to_have_url(re.compile(r"/health$"))


def test_labs_show_the_latest_result_per_test_and_open_to_the_history(page: Page, admin: httpx.Client) -> None:
    signed_in(page, JANE)
    expect(page.get_by_role("heading", name="Lab results")).to_be_visible()
    rows = page.locator("details.lab")
    codes = lab_codes(admin, "jane-doe")
    expect(rows).to_have_count(len(codes))
    assert {rows.nth(i).get_attribute("data-code") for i in range(rows.count())} == codes
    for code in ("718-7", "6875-9"):  # compared with the FHIR API: the newest result of the code
        newest = admin.get("/Observation", params={"patient": "jane-doe", "code": code, "_sort": "-date",
                                                   "_count": "1"}).json()["entry"][0]["resource"]
        expect(page.locator(f'details.lab[data-code="{code}"] .lab-value .value')).to_have_text(
            observation_value(newest))
    flags = {(f.text_content() or "").strip() for f in page.locator("details.lab .flag").all()}
    assert flags and flags <= {"▲ High", "▼ Low", "! Abnormal", "▲ Critically high", "▼ Critically low"}, flags
    shot(page, "health")

    history = all_pages(admin, "/Observation", {"patient": "jane-doe", "code": "6875-9", "_count": "1000"})
    row = page.locator('details.lab[data-code="6875-9"]')
    row.locator("summary").click()
    expect(row.locator("table.history tbody tr")).to_have_count(len(history))
    chart = row.get_by_role("group", name=re.compile("^Trend of"))
    expect(chart).to_be_visible()
    # Each point takes the focus and then shows its value; the axis names the unit.
    point = chart.get_by_role("img").last
    point.focus()
    expect(point.locator(".trend-tip")).to_be_visible()
    expect(chart.locator(".trend-unit")).to_have_text("U/mL")
    dates = [t.get_attribute("datetime") or "" for t in row.locator("table.history tbody time").all()]
    assert dates == sorted(dates, reverse=True)
    row.scroll_into_view_if_needed()
    shot(page, "health-history")


def test_six_recent_documents_then_all_with_filters(page: Page, admin: httpx.Client) -> None:
    signed_in(page, JANE)
    current = all_pages(admin, "/DocumentReference", {"patient": "jane-doe", "status": "current", "_count": "100"})
    recent = page.locator("section.documents li.doc")
    expect(recent).to_have_count(6)
    # Every note is a US Core "Clinical Note": saying so on each row says nothing.
    expect(page.locator("section.documents")).not_to_contain_text("Clinical Note")
    # Newest first. Several documents share a date, so compare dates, not one arbitrary id.
    by_id = {d["id"]: d["date"] for d in current}
    shown = [(recent.nth(i).locator("a").get_attribute("href") or "").rsplit("/", 1)[-1] for i in range(6)]
    dates = [by_id[i] for i in shown]
    assert dates == sorted(dates, reverse=True)
    assert dates[0] == max(by_id.values())
    assert dates[-1] >= sorted(by_id.values(), reverse=True)[5]  # the six newest, whichever of a tie

    page.get_by_role("link", name="View all documents").click()
    expect(page.get_by_role("heading", name="All documents")).to_be_visible()
    expect(page.locator("li.doc")).to_have_count(min(len(current), 20))
    shot(page, "documents")

    page.get_by_label("Type").select_option(label="Progress note")
    page.get_by_role("button", name="Show documents").click()
    notes = [d for d in current if d["type"]["coding"][0]["code"] == "11506-3"]
    expect(page.locator("li.doc")).to_have_count(len(notes))

    page.get_by_label("From").fill("2024-01-01")
    page.get_by_label("To").fill("2020-01-01")
    page.get_by_role("button", name="Show documents").click()
    expect(page.get_by_role("alert")).to_have_text("The start date is after the end date.")
    expect(page.get_by_label("From")).to_have_value("2024-01-01")


def test_a_pdf_opens_and_another_patients_document_is_not_found(page: Page, admin: httpx.Client) -> None:
    signed_in(page, JANE)
    docs = all_pages(admin, "/DocumentReference", {"patient": "jane-doe", "_count": "100"})
    pdf = next(d for d in docs if d["content"][0]["attachment"]["contentType"] == "application/pdf")
    response = page.request.get(f"/health/documents/{pdf['id']}/file")
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].startswith("inline; filename=")
    assert response.body().startswith(b"%PDF")

    robert = all_pages(admin, "/DocumentReference", {"patient": "robert-chen", "_count": "1"})[0]
    for doc_id in (robert["id"], "no-such-document"):
        page.goto(f"/health/documents/{doc_id}")
        expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
        other = page.request.get(f"/health/documents/{doc_id}/file")
        assert other.status == 404 and not other.body().startswith(b"%PDF")


def test_a_delegate_sees_the_patients_labs_with_the_banner(page: Page, admin: httpx.Client) -> None:
    signed_in(page, SOPHIE)
    expect(page.get_by_role("status")).to_contain_text("Viewing Jane Doe's record")
    expect(page.locator("details.lab")).to_have_count(len(lab_codes(admin, "jane-doe")))
    expect(page.locator("section.documents li.doc")).to_have_count(6)
    shot(page, "health-delegate")


def test_a_document_kept_in_a_binary_opens_only_for_its_patient(server: Any, admin: httpx.Client) -> None:
    import base64

    def document(binary: dict, title: str, patient: str = "jane-doe", own_context: bool = False) -> tuple[str, str]:
        made = admin.post("/Binary", json=binary).json()
        doc = admin.post("/DocumentReference", json={
            "resourceType": "DocumentReference", "status": "current", "subject": {"reference": f"Patient/{patient}"},
            "date": "2026-11-20T10:00:00Z", "description": title,
            "content": [{"attachment": {"contentType": "text/plain", "title": title,
                                        "url": f"{server.fhir}/Binary/{made['id']}"}}]}).json()
        if own_context:  # the Binary names the document that points at it
            labelled = {**made, "securityContext": {"reference": f"{server.fhir}/DocumentReference/{doc['id']}"}}
            assert admin.put(f"/Binary/{made['id']}", json=labelled).status_code == 200
        return str(doc["id"]), str(made["id"])

    text = base64.b64encode(b"Port placement went well.").decode()
    own, _ = document({"resourceType": "Binary", "contentType": "text/plain", "data": text,
                       "securityContext": {"reference": "Patient/jane-doe"}}, "Port placement note")
    by_doc, _ = document({"resourceType": "Binary", "contentType": "text/plain", "data": text}, "Document's note",
                         own_context=True)
    plain, _ = document({"resourceType": "Binary", "contentType": "text/plain", "data": text}, "Unlabelled note")
    foreign, _ = document({"resourceType": "Binary", "contentType": "text/plain", "data": text,
                           "securityContext": {"reference": "Patient/robert-chen"}}, "Mislabelled note")
    # Robert's document and its Binary (labelled with Robert's document); a DocumentReference in
    # Jane's record that points at that Binary must not open it.
    _, roberts_binary = document({"resourceType": "Binary", "contentType": "text/plain", "data": text},
                                 "Robert's note", patient="robert-chen", own_context=True)
    borrowed = str(admin.post("/DocumentReference", json={
        "resourceType": "DocumentReference", "status": "current", "subject": {"reference": "Patient/jane-doe"},
        "date": "2026-11-20T10:00:00Z", "description": "Borrowed note",
        "content": [{"attachment": {"contentType": "text/plain", "title": "Borrowed note",
                                    "url": f"Binary/{roberts_binary}"}}]}).json()["id"])
    with httpx.Client(base_url=server.url) as client:
        page = client.get("/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token
        client.post("/login", data={"email": "jane.doe@example.org", "password": "Jane-Demo-2026!",
                                    "birth_date": "1968-04-12", "csrf_token": token.group(1)})
        for doc_id in (own, by_doc):
            opened = client.get(f"/health/documents/{doc_id}/file")
            assert opened.status_code == 200, opened.text
            assert opened.headers["content-type"].startswith("text/plain")
            assert opened.content == b"Port placement went well."
        for doc_id in (plain, foreign, borrowed):
            refused = client.get(f"/health/documents/{doc_id}/file")
            assert refused.status_code == 404, doc_id
            assert "no longer available" in refused.text and "Port placement went well." not in refused.text
