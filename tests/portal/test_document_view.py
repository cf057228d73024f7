"""Opening a document keeps the person in the portal: a text note and an HTML note (sanitised)
shown in the page, a PDF embedded, each with its title, the tabs, a way back and a download
button; the raw file only behind that button (or the embed)."""

from __future__ import annotations

import base64
from typing import Any

import httpx
from playwright.sync_api import Page, expect

from tests.portal.conftest import shot, sign_in
from tests.support.axe import check
from tests.support.fhir import all_pages
from tests.support.portal import FHIR_JSON, Person, registered_patient

NOTE = "Port placement went well.\nFlush every 4 weeks; next visit Mar 3."
HTML = ('<h2>Visit summary</h2><p onclick="steal()" style="color:red">Feeling <b>better</b>.'
        '<script>window.pwned = 1</script><img src="https://tracker.example/x.png">'
        '<a href="javascript:steal()">do not follow</a> <a href="https://www.cancer.gov/">NCI</a></p>')


def _document(admin: httpx.Client, person: Person, title: str, content_type: str, data: bytes) -> str:
    made = admin.post("/DocumentReference", headers=FHIR_JSON, json={
        "resourceType": "DocumentReference", "status": "current",
        "subject": {"reference": f"Patient/{person.patient_id}"}, "date": "2026-10-02T14:00:00Z",
        "type": {"coding": [{"system": "http://loinc.org", "code": "11506-3"}], "text": "Progress note"},
        "author": [{"display": "Emily Hart, MD"}], "description": title,
        "content": [{"attachment": {"contentType": content_type, "title": title,
                                    "data": base64.b64encode(data).decode()}}]})
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def _demo_pdf(admin: httpx.Client) -> bytes:
    """A real PDF of the demo practice (the browser's viewer shows it in the screenshots)."""
    for doc in all_pages(admin, "/DocumentReference", {"patient": "jane-doe", "_count": "100"}):
        attachment = doc["content"][0]["attachment"]
        if attachment.get("contentType") == "application/pdf" and attachment.get("data"):
            return base64.b64decode(attachment["data"])
    raise AssertionError("the demo practice has no inline PDF")


def test_documents_open_inside_the_portal(page: Page, server: Any, admin: httpx.Client, smtp: Any, db: Any) -> None:
    person = registered_patient(server, admin, smtp, given="Nora", family="Notes")
    text_id = _document(admin, person, "Port placement note", "text/plain", NOTE.encode())
    html_id = _document(admin, person, "Visit summary", "text/html", HTML.encode())
    pdf = _demo_pdf(admin)
    pdf_id = _document(admin, person, "Pathology report", "application/pdf", pdf)
    sign_in(page, *person.credentials)
    problems: list[str] = []

    page.get_by_role("link", name="Port placement note").click()
    expect(page).to_have_url(f"{server.url}/health/documents/{text_id}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Port placement note")
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Health")).to_have_attribute(
        "aria-current", "page")
    expect(page.locator(".doc-text")).to_have_text(NOTE)
    expect(page.locator(".doc-view .doc-meta")).to_contain_text("Emily Hart, MD")
    expect(page).to_have_title("Port placement note · Riverbend Oncology Associates")
    check(page, "document (text)", problems)
    shot(page, "document-text")
    with page.expect_download() as saved:
        page.get_by_role("link", name="Download Port placement note", exact=True).click()
    assert saved.value.suggested_filename == "Port placement note.txt"
    page.get_by_role("link", name="Back to documents").click()
    expect(page.get_by_role("heading", name="All documents")).to_be_visible()

    page.goto(f"/health/documents/{html_id}")
    note = page.locator(".doc-html")
    expect(note.get_by_role("heading", name="Visit summary")).to_be_visible()
    expect(note).to_contain_text("Feeling better.")
    assert page.evaluate("() => window.pwned") is None
    assert note.locator("script, img, [onclick], [style]").count() == 0
    assert note.locator("a", has_text="do not follow").get_attribute("href") is None
    assert note.get_by_role("link", name="NCI").get_attribute("rel") == "noopener noreferrer nofollow"
    check(page, "document (HTML)", problems)
    shot(page, "document-html")

    page.goto(f"/health/documents/{pdf_id}")
    frame = page.locator("iframe.doc-pdf")
    expect(frame).to_have_attribute("src", f"/health/documents/{pdf_id}/file")
    expect(frame).to_have_attribute("title", "Pathology report (PDF)")
    check(page, "document (PDF)", problems)
    shot(page, "document-pdf")
    embedded = page.request.get(f"/health/documents/{pdf_id}/file")
    assert embedded.body() == pdf and embedded.headers["content-disposition"].startswith("inline;")
    assert embedded.headers["x-frame-options"] == "SAMEORIGIN"
    downloaded = page.request.get(f"/health/documents/{pdf_id}/file?download=true")
    assert downloaded.headers["content-disposition"].startswith('attachment; filename="Pathology report.pdf"')
    # The HTML note's file is never shown by the browser as a page.
    raw_html = page.request.get(f"/health/documents/{html_id}/file")
    assert raw_html.headers["content-disposition"].startswith("attachment;")
    assert not problems, "\n".join(problems)
    opened = db["AuditEvent"].count_documents({"res.entity.what.reference": f"DocumentReference/{text_id}",
                                               "res.subtype.code": "read"})
    assert opened >= 2  # the page and the download
