"""The Inbox: patients' messages as threads (``inbox``), a thread with the practice's answer,
and marking a thread done. Every read is a search or read under the staff member's one-door
caller and leaves an AuditEvent; the answer is written through the same write hooks as the
REST API, so the patient gets the usual "new message" mail."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from fhir_server import audit
from fhir_server.access import check_resource, check_staff_action, check_write, search_scope
from fhir_server.portal import csrf
from fhir_server.portal.messages import records, threads
from fhir_server.portal.sessions import services_of
from fhir_server.practice import inbox
from fhir_server.practice.pages import redirect, render
from fhir_server.practice.patient_view import staff_view
from fhir_server.practice.session import Console, ConsoleDep
from fhir_server.resources import hooks
from fhir_server.resources import search as search_engine
from fhir_server.resources.errors import FhirError
from fhir_server.resources.search import patient_compartments
from fhir_server.resources.store import instant
from fhir_server.resources.validation import validate
from fhir_server.services import Services

router = APIRouter()
Csrf = Depends(csrf.verify)
NOT_FOUND = "We could not find that message. It may have been removed."
NOTICES = {"replied": "Your answer was sent. The patient has been told by email that a message is waiting.",
           "done": "The conversation is marked done. A new message from the patient will reopen it."}


@router.get("/practice/inbox")
async def inbox_page(request: Request, console: ConsoleDep, category: str = "", state: str = "open",
                     notice: str | None = None) -> Response:
    services = services_of(request)
    check_staff_action(console.caller, "messages")
    categories = list(services.settings.message_categories)
    category = category if category in categories else ""
    state = state if state in inbox.STATES else "open"
    params = [("_sort", "-sent"), ("_count", str(inbox.WINDOW)), ("_total", "none")]
    if category:
        params.append(("category", f"{threads.CATEGORY_SYSTEM}|{category.lower()}"))
    bundle = await search_engine.search(services.db.db, "Communication", params, base_url=services.settings.fhir_base,
                                        scope=search_scope(console.caller, "Communication"))
    comms = [e["resource"] for e in bundle.get("entry", []) if e.get("search", {}).get("mode") == "match"]
    shown = [t for t in inbox.group(comms, services.settings.fhir_base) if inbox.matches(t, state)]
    await audit.record(services.store, console.caller, "search-type",
                       patients=[t.patient_id for t in shown if t.patient_id],
                       entities=[f"Communication/{t.id}" for t in shown], description="Practice inbox")
    return render(request, "inbox.html", active="inbox", title="Inbox", rows=shown, categories=categories,
                  category=category, state=state, states=inbox.STATES, when=inbox.when,
                  notice=NOTICES.get(notice or ""))


async def _thread_of(services: Services, console: Console, message_id: str) -> tuple[Any, list[Any], inbox.Thread]:
    """The patient's view, their messages and the thread holding ``message_id`` (404 otherwise)."""
    current = await services.store.find_current("Communication", message_id)
    if current is None or current.resource is None:
        raise FhirError(404, "not-found", NOT_FOUND)
    base = services.settings.fhir_base
    check_resource(console.caller, "Communication", message_id, patient_compartments(current.resource, base), "r")
    patient_id = inbox.patient_of(current.resource, base)
    if not patient_id:
        raise FhirError(404, "not-found", NOT_FOUND)
    view = await staff_view(services, console, patient_id)
    messages = await records.load(services, view)
    found = next((t for t in inbox.group([m.resource for m in messages], base)
                  if any(str(c.get("id")) == message_id for c in t.messages)), None)
    if found is None:
        raise FhirError(404, "not-found", NOT_FOUND)
    return view, messages, found


async def _thread_page(request: Request, console: Console, message_id: str, *, status: int = 200,
                       error: str | None = None, text: str = "", notice: str | None = None) -> Response:
    services = services_of(request)
    check_staff_action(console.caller, "messages")
    view, messages, thread = await _thread_of(services, console, message_id)
    ids = {str(c.get("id")) for c in thread.messages}
    cards = [m for m in messages if m.id in ids]
    opened = [m for m in cards if m.patient_side and not m.resource.get("received")]
    if [m for m in opened if await records.mark_read(services, view, m)]:
        view, messages, thread = await _thread_of(services, console, message_id)
        cards = [m for m in messages if m.id in ids]
    await audit.record(services.store, console.caller, "portal", patients=[view.patient_id],
                       entities=[f"Communication/{m.id}" for m in cards])
    cards.sort(key=lambda m: (m.sent is not None, m.sent or datetime.min.replace(tzinfo=UTC)))
    return render(request, "thread.html", status=status, active="inbox", title=thread.subject, thread=thread,
                  cards=cards, view=view, error=error, text=text, notice=notice,
                  body_max=threads.BODY_MAX)


@router.get("/practice/inbox/{message_id}")
async def thread_page(request: Request, console: ConsoleDep, message_id: str, notice: str | None = None) -> Response:
    return await _thread_page(request, console, message_id, notice=NOTICES.get(notice or ""))


@router.post("/practice/inbox/{message_id}/reply", dependencies=[Csrf])
async def reply(request: Request, console: ConsoleDep, message_id: str,
                body: Annotated[str, Form()] = "") -> Response:
    services = services_of(request)
    check_staff_action(console.caller, "messages")
    body = body.replace("\r\n", "\n")
    problem = threads.body_errors(body).get("body")
    if problem:
        return await _thread_page(request, console, message_id, status=400, error=problem, text=body)
    view, _, thread = await _thread_of(services, console, message_id)
    if not console.staff.practitioner_id:
        return await _thread_page(request, console, message_id, status=409, text=body,
                                  error="Your staff account is not linked to a Practitioner, so you cannot answer "
                                        "as the practice. Ask a practice administrator.")
    base = services.settings.fhir_base
    latest_patient = [c for c in thread.messages if threads.is_patient_side(c, base)][-1]
    resource: dict[str, Any] = validate({
        "resourceType": "Communication",
        "status": "completed",
        "category": thread.messages[0].get("category") or [threads.category_concept("Health")],
        "subject": {"reference": f"Patient/{view.patient_id}", "display": view.patient_name},
        "topic": {"text": thread.subject},
        "about": [{"reference": f"Communication/{latest_patient['id']}"}],
        "sent": instant(services.store.clock()),
        "recipient": [{"reference": f"Patient/{view.patient_id}", "display": view.patient_name}],
        "sender": {"reference": f"Practitioner/{console.staff.practitioner_id}", "display": console.staff.name},
        "payload": [{"contentString": body}],
    }, "Communication")
    check_write(console.caller, "Communication", patient_compartments(resource, base), "c")
    await hooks.before_write(services, console.caller, resource, "c")
    version = await services.store.create(resource)
    await hooks.after_create(services, console.caller, [version.resource])  # the patient's mail notice
    await audit.record(services.store, console.caller, "create", patients=[view.patient_id],
                       entities=[f"Communication/{version.id}", f"Communication/{latest_patient['id']}"])
    return redirect(f"/practice/inbox/{version.id}?notice=replied")


@router.post("/practice/inbox/{message_id}/done", dependencies=[Csrf])
async def mark_done(request: Request, console: ConsoleDep, message_id: str) -> Response:
    services = services_of(request)
    check_staff_action(console.caller, "messages")
    view, _, thread = await _thread_of(services, console, message_id)
    base = services.settings.fhir_base
    latest = [c for c in thread.messages if threads.is_patient_side(c, base)][-1]
    if not inbox.is_done(latest):
        current = await services.store.find_current("Communication", str(latest["id"]))
        assert current is not None and current.resource is not None
        resource = dict(current.resource)
        meta = dict(resource.get("meta") or {})
        meta["tag"] = [*(meta.get("tag") or []), inbox.DONE_TAG]
        resource["meta"] = meta
        check_write(console.caller, "Communication", patient_compartments(resource, base), "u")
        try:
            await services.store.update(resource, str(latest["id"]), if_match=current.vid)
        except FhirError:
            return await _thread_page(request, console, message_id, status=409,
                                      error="The conversation changed while you were reading it. Look again, "
                                            "then mark it done.")
        await audit.record(services.store, console.caller, "update", patients=[view.patient_id],
                           entities=[f"Communication/{latest['id']}"], description="Inbox thread marked done")
    return redirect("/practice/inbox?notice=done")
