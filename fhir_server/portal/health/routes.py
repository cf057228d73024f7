"""The Health tab's pages: labs and recent documents, all documents, opening a document, and
the two downloads (the FHIR Bundle, streamed, and the printable summary).

Every page is built around the patient in view (``ViewingDep``), reads through the search
engine under the one door, and writes one AuditEvent.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from fhir_server import audit
from fhir_server.portal.health import (
    attachment,
    document_view,
    documents,
    download,
    labs,
    overview,
    records,
    seen,
    summary,
)
from fhir_server.portal.health.dates import period_from
from fhir_server.portal.health.trend import trend
from fhir_server.portal.pages import render, render_error_page
from fhir_server.portal.sessions import services_of
from fhir_server.portal.viewing import ViewingDep

router = APIRouter()
CSS = "/static/health.css"
WELCOME = ("Your account is ready. Next time, sign in with your email, your password and your date of birth."
           " You can turn on two-step sign-in in Settings.")


@router.get("/health")
async def health(request: Request, view: ViewingDep) -> Response:
    services = services_of(request)
    observations, reports = await records.lab_data(services, view)
    tests = labs.group_tests(observations, reports)
    recent = await documents.recent(services, view)
    await audit.record(services.store, view.caller, "portal", patients=[view.patient_id],
                       entities=[f"Observation/{t.latest.id}" for t in tests] + [f"DocumentReference/{d.id}"
                                                                                 for d in recent])
    now = services.store.clock()
    looked = await seen.last_looked(services.db, view.account.id, view.patient_id)
    labs_overview = overview.build(tests, observations, now=now, last_looked=looked)
    await seen.looked_now(services.db, view.account.id, view.patient_id, now)
    return render(request, "health/index.html", active="health", title="Health", view=view,
                  overview=labs_overview, charts={t.key: trend(t) for t in tests}, documents=recent,
                  result_count=len(observations),
                  notice=WELCOME if request.query_params.get("notice") == "registered" else None)


@router.get("/health/documents")
async def all_documents(request: Request, view: ViewingDep) -> Response:
    services = services_of(request)
    query = request.query_params
    doc_type, cursor = query.get("type", "").strip(), query.get("cursor") or None
    period = period_from(query.get("from"), query.get("to"))
    found = await documents.page(services, view, doc_type=doc_type, period=period, cursor=cursor)
    if found.docs:
        await audit.record(services.store, view.caller, "portal", patients=[view.patient_id],
                           entities=[f"DocumentReference/{d.id}" for d in found.docs])
    filters = [(k, v) for k, v in (("type", doc_type), ("from", period.raw_from), ("to", period.raw_to)) if v]
    return render(request, "health/documents.html", active="health", title="All documents", view=view, page=found,
                  period=period, doc_type=doc_type, filters=filters, status=400 if found.error else 200)


@router.get("/health/documents/{doc_id}")
async def open_document(request: Request, doc_id: str, view: ViewingDep) -> Response:
    """The document inside the portal page: its title, details, content and a download button."""
    try:
        resource, content = await attachment.open_document(services_of(request), view, doc_id)
    except attachment.NoContent as missing:
        return render_error_page(request, 404, str(missing))
    doc = documents.to_doc(resource)
    return render(request, "health/document.html", active="health", title=doc.title, view=view, doc=doc,
                  body=document_view.body_of(content), file=content)


@router.get("/health/documents/{doc_id}/file")
async def document_file(request: Request, doc_id: str, view: ViewingDep, download: bool = False) -> Response:
    """The document's own file: embedded by its page (PDF, image), or downloaded by its button."""
    try:
        _, content = await attachment.open_document(services_of(request), view, doc_id)
    except attachment.NoContent as missing:
        return render_error_page(request, 404, str(missing))
    return Response(content.body, headers=content.headers(download=download))


@router.get("/health/download/record.json")
async def download_record(request: Request, view: ViewingDep) -> Response:
    services = services_of(request)
    period = period_from(request.query_params.get("from"), request.query_params.get("to"))
    if period.error:
        return render_error_page(request, 400, f"{period.error} Go back to the Health page and choose the dates again.")
    await audit.record(services.store, view.caller, "export", patients=[view.patient_id],
                       entities=[f"Patient/{view.patient_id}"],
                       description=f"Health record download, {period.describe()}")
    disposition = f'attachment; filename="{download.file_name(view, period)}"'
    return StreamingResponse(download.bundle_chunks(services, view, period), media_type="application/fhir+json",
                             headers={"Content-Disposition": disposition, "Cache-Control": "no-store",
                                      "X-Content-Type-Options": "nosniff"})


@router.get("/health/download/summary")
async def readable_summary(request: Request, view: ViewingDep) -> Response:
    services = services_of(request)
    period = period_from(request.query_params.get("from"), request.query_params.get("to"))
    if period.error:
        return render(request, "health/summary.html", active="health", title="Health record summary", view=view,
                      period=period, error=period.error, status=400)
    context = await summary.gather(services, view, period)
    await audit.record(services.store, view.caller, "portal", patients=[view.patient_id],
                       entities=context.pop("entities"), description=f"Readable summary, {period.describe()}")
    return render(request, "health/summary.html", active="health", title="Health record summary", view=view,
                  period=period, prepared=services.store.clock(), charts={}, **context)
