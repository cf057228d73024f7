"""Patients: find a patient; their page (details, portal status, family members with access,
and for clinical roles the record the patient sees); invite them to the portal; share a
document; the access log of who opened their record."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import Response

from fhir_server import audit
from fhir_server.access import check_staff_action, search_scope
from fhir_server.db import ACCOUNTS
from fhir_server.portal import csrf
from fhir_server.portal.delegates.grants import list_grants
from fhir_server.portal.health import attachment, documents, labs, records
from fhir_server.portal.invites import AlreadyRegistered, invite_patient, mailer
from fhir_server.portal.messages import records as message_records
from fhir_server.portal.sessions import services_of
from fhir_server.practice import access_log, inbox, patients, share
from fhir_server.practice.pages import redirect, render
from fhir_server.practice.patient_view import staff_view
from fhir_server.practice.session import Console, ConsoleDep
from fhir_server.resources import search as search_engine
from fhir_server.resources.errors import FhirError

router = APIRouter()
Csrf = Depends(csrf.verify)
NOTICES = {"invited": "The invite was sent. The link works once, for 4 days; an earlier link no longer works.",
           "shared": "The document was shared. The patient sees it in their documents now.",
           "two-step-off": "Two-step sign-in is off for this patient. They were told by mail and now sign in with "
                           "their email, password and date of birth; they can turn it on again in Settings."}
NOT_CONFIRMED = "Confirm that you have checked the patient's identity before turning two-step sign-in off."
NOT_ON = "Two-step sign-in is not on for this patient."


@router.get("/practice/patients")
async def patient_list(request: Request, console: ConsoleDep, name: str = "", birth_date: str = "",
                       identifier: str = "") -> Response:
    services = services_of(request)
    check_staff_action(console.caller, "patients")
    criteria = patients.Criteria(name.strip(), birth_date.strip(), identifier.strip())
    problem = criteria.problem()
    found = [] if problem else await patients.search(services, console.caller, criteria)
    rows = await patients.rows(services, found)
    await audit.record(services.store, console.caller, "search-type", patients=[r.id for r in rows],
                       description="Practice console patient search")
    return render(request, "patients.html", status=400 if problem else 200, active="patients", title="Patients",
                  rows=rows, criteria=criteria, error=problem, page_size=patients.PAGE)


async def _patient_page(request: Request, console: Console, patient_id: str, *, status: int = 200,
                        notice: str | None = None, errors: dict[str, list[str]] | None = None,
                        form: dict[str, str] | None = None) -> Response:
    services = services_of(request)
    check_staff_action(console.caller, "patients")
    view = await staff_view(services, console, patient_id)
    state = (await patients.portal_status(services, [patient_id]))[patient_id]
    grants = await list_grants(services, console.caller, patient_id)  # audited there
    # Every conversation of this patient (the inbox lists only the most recent messages' threads).
    messages = await message_records.load(services, view)
    conversations = inbox.group([m.resource for m in messages], services.settings.fhir_base)
    await audit.record(services.store, console.caller, "portal", patients=[patient_id],
                       entities=[f"Communication/{t.id}" for t in conversations])
    context: dict[str, object] = {"conversations": conversations, "when": inbox.when}
    if console.may("chart"):
        observations, reports = await records.lab_data(services, view)
        tests = labs.group_tests(observations, reports)
        recent = await documents.recent(services, view, count=10)
        await audit.record(services.store, console.caller, "portal", patients=[patient_id],
                           entities=[f"Patient/{patient_id}"] + [f"Observation/{t.latest.id}" for t in tests]
                           + [f"DocumentReference/{d.id}" for d in recent])
        context |= {"panels": labs.by_panel(tests), "docs": recent}
    else:
        await audit.record(services.store, console.caller, "read", patients=[patient_id],
                           entities=[f"Patient/{patient_id}"])
    return render(request, "patient.html", status=status, active="patients", title=view.patient_name, view=view,
                  patient=view.patient, identifiers=patients.identifiers_of(view.patient), portal=state,
                  grants=grants, notice=notice, errors=errors or {}, form=form or {},
                  email=state.email or patients.email_of(view.patient), types=share.TYPES,
                  today=services.store.clock().date().isoformat(), **context)


@router.get("/practice/patients/{patient_id}")
async def patient_page(request: Request, console: ConsoleDep, patient_id: str, notice: str | None = None) -> Response:
    return await _patient_page(request, console, patient_id, notice=NOTICES.get(notice or ""))


@router.post("/practice/patients/{patient_id}/invite", dependencies=[Csrf])
async def invite(request: Request, console: ConsoleDep, patient_id: str,
                 email: Annotated[str, Form()] = "") -> Response:
    services = services_of(request)
    check_staff_action(console.caller, "invite")
    await staff_view(services, console, patient_id)  # 404 for an unknown patient
    try:
        await invite_patient(services, patient_id, email)
    except AlreadyRegistered:
        problem = "This patient already has a portal account. If they cannot sign in, they can reset their password."
    except ValueError as exc:
        problem = str(exc)
    else:
        await audit.record(services.store, console.caller, "operation", patients=[patient_id],
                           entities=[f"Patient/{patient_id}"], description="Portal invite sent")
        return redirect(f"/practice/patients/{patient_id}?notice=invited#portal")
    return await _patient_page(request, console, patient_id, status=400, errors={"invite": [problem]},
                               form={"email": email})


@router.post("/practice/patients/{patient_id}/two-step/off", dependencies=[Csrf])
async def turn_off_two_step(request: Request, console: ConsoleDep, patient_id: str,
                            identity_checked: Annotated[str, Form()] = "") -> Response:
    """For a patient who lost both their phone and their recovery codes: the practice checks who
    they are (by phone or at the desk) and turns the second step off; the patient is told by mail."""
    services = services_of(request)
    check_staff_action(console.caller, "two-step-off")
    await staff_view(services, console, patient_id)  # 404 for an unknown patient
    if identity_checked != "yes":
        return await _patient_page(request, console, patient_id, status=400, errors={"two_step": [NOT_CONFIRMED]})
    account = await services.db[ACCOUNTS].find_one_and_update(
        {"patient_id": patient_id, "two_step.enabled": {"$exists": True}},
        {"$unset": {"two_step": "", "two_step_setup": ""}}, projection={"email": 1, "name": 1})
    if account is None:
        return await _patient_page(request, console, patient_id, status=409, errors={"two_step": [NOT_ON]})
    await audit.record(services.store, console.caller, "operation", patients=[patient_id],
                       entities=[f"Patient/{patient_id}"], description="Two-step sign-in turned off by the practice")
    await mailer(services).send(account["email"], "two_step_changed", name=str(account.get("name", "")).split(" ")[0],
                                on=False)
    return redirect(f"/practice/patients/{patient_id}?notice=two-step-off#portal")


@router.post("/practice/patients/{patient_id}/documents", dependencies=[Csrf])
async def share_document(request: Request, console: ConsoleDep, patient_id: str,
                         title: Annotated[str, Form()] = "", doc_type: Annotated[str, Form()] = "",
                         when: Annotated[str, Form()] = "", note: Annotated[str, Form()] = "",
                         file: Annotated[UploadFile | None, File()] = None) -> Response:
    services = services_of(request)
    check_staff_action(console.caller, "share")
    view = await staff_view(services, console, patient_id)
    body = await file.read(share.MAX_BYTES + 1) if file is not None and file.filename else b""
    problems, upload = share.problems(title=title, type_code=doc_type, when=when,
                                      filename=(file.filename or "") if file else "", body=body, note=note,
                                      today=services.store.clock().date())
    if upload is None:
        return await _patient_page(request, console, patient_id, status=400, errors={"share": problems},
                                   form={"title": title, "doc_type": doc_type, "when": when, "note": note})
    doc_id = await share.share(services, console, view, upload)
    await audit.record(services.store, console.caller, "create", patients=[patient_id],
                       entities=[f"DocumentReference/{doc_id}"], description="Document shared from the console")
    return redirect(f"/practice/patients/{patient_id}?notice=shared#documents")


@router.get("/practice/patients/{patient_id}/documents/{doc_id}")
async def open_document(request: Request, console: ConsoleDep, patient_id: str, doc_id: str) -> Response:
    services = services_of(request)
    check_staff_action(console.caller, "chart")
    view = await staff_view(services, console, patient_id)
    try:
        _, content = await attachment.open_document(services, view, doc_id)
    except attachment.NoContent as missing:
        raise FhirError(404, "not-found", str(missing)) from None
    return Response(content.body, headers=content.headers())


@router.get("/practice/patients/{patient_id}/access-log")
async def patient_access_log(request: Request, console: ConsoleDep, patient_id: str) -> Response:
    services = services_of(request)
    check_staff_action(console.caller, "access-log")
    view = await staff_view(services, console, patient_id)
    bundle = await search_engine.search(
        services.db.db, "AuditEvent", [("patient", patient_id), ("_sort", "-date"), ("_count", "200")],
        base_url=services.settings.fhir_base, scope=search_scope(console.caller, "AuditEvent"))
    events = [e["resource"] for e in bundle.get("entry", []) if e.get("search", {}).get("mode") == "match"]
    entries = await access_log.entries(services, console.caller, view, events)
    await audit.record(services.store, console.caller, "search-type", patients=[patient_id],
                       entities=[f"Patient/{patient_id}"], description="Access log read")
    return render(request, "access_log.html", active="patients", title=f"Access log · {view.patient_name}",
                  view=view, entries=entries)
