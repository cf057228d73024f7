"""The Messages tab: inbox, sent folder, a thread (opening it marks it read), one reply per
practice message, and a new message to the care team. Every page is audited once."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from fhir_server import audit
from fhir_server.portal import csrf
from fhir_server.portal.forms import Problem
from fhir_server.portal.messages import records, threads
from fhir_server.portal.messages.threads import Message
from fhir_server.portal.pages import render
from fhir_server.portal.record.refill import refill_form
from fhir_server.portal.sessions import services_of
from fhir_server.portal.viewing import Viewing, ViewingDep
from fhir_server.resources.errors import FhirError

router = APIRouter()
Csrf = Depends(csrf.verify)
NOTICES = {"sent": "Your message was sent to your care team.", "replied": "Your reply was sent to your care team."}
NOT_FOUND = "We could not find that message in this record. It may have been removed."


def _page(request: Request, view: Viewing, template: str, messages: list[Message], *, status: int = 200,
          **context: Any) -> Response:
    unread = threads.unread_count(messages)
    return render(request, f"messages/{template}", status=status, active="messages", unread_count=unread,
                  view=view, **context)


async def _audit(request: Request, view: Viewing, interaction: str, shown: list[Message]) -> None:
    await audit.record(services_of(request).store, view.caller, interaction, patients=[view.patient_id],
                       entities=[f"Communication/{m.id}" for m in shown])


@router.get("/messages")
async def inbox(request: Request, view: ViewingDep) -> Response:
    messages = await records.load(services_of(request), view)
    shown = threads.inbox(messages)
    await _audit(request, view, "portal", shown)
    unread = threads.unread_count(messages)
    return _page(request, view, "inbox.html", messages, title=f"Messages ({unread})" if unread else "Messages",
                 folder="inbox", rows=shown)


@router.get("/messages/sent")
async def sent(request: Request, view: ViewingDep, notice: str | None = None) -> Response:
    messages = await records.load(services_of(request), view)
    shown = threads.sent_folder(messages)
    await _audit(request, view, "portal", shown)
    return _page(request, view, "sent.html", messages, title="Sent messages", folder="sent", rows=shown,
                 notice=NOTICES.get(notice or ""))


def _categories(request: Request) -> list[str]:
    return list(services_of(request).settings.message_categories)


@router.get("/messages/new")
async def compose_page(request: Request, view: ViewingDep, refill: str = "") -> Response:
    messages = await records.load(services_of(request), view)
    form = await refill_form(services_of(request), view, refill, _categories(request)) if refill else {}
    return _page(request, view, "compose.html", messages, title="New message", categories=_categories(request),
                 form=form, errors={})


@router.post("/messages/new", dependencies=[Csrf])
async def compose(request: Request, view: ViewingDep, category: Annotated[str, Form()] = "",
                  subject: Annotated[str, Form()] = "", body: Annotated[str, Form()] = "") -> Response:
    services = services_of(request)
    body = body.replace("\r\n", "\n")
    form = {"category": category, "subject": subject, "body": body}
    errors = threads.compose_errors(category, subject, body, _categories(request))
    if not errors:
        try:
            new_id = await records.send(services, view, category=category, subject=subject.strip(), body=body)
        except FhirError as exc:
            errors = {"form": exc.diagnostics}
        else:
            await audit.record(services.store, view.caller, "create", patients=[view.patient_id],
                               entities=[f"Communication/{new_id}"])
            return RedirectResponse(f"/messages/{new_id}?notice=sent", status_code=303)
    messages = await records.load(services, view)
    problems = [Problem(errors[key], key) for key in ("category", "subject", "body") if errors.get(key)]
    if errors.get("form"):
        problems.append(Problem(errors["form"]))
    return _page(request, view, "compose.html", messages, status=400, title="New message",
                 categories=_categories(request), form=form, errors=errors, problems=problems)


async def _thread_page(request: Request, view: ViewingDep, message_id: str, *, status: int = 200,
                       reply_error: str | None = None, reply_text: str = "", notice: str | None = None) -> Response:
    services = services_of(request)
    messages = await records.load(services, view)
    conversation = threads.thread(messages, message_id)
    if not conversation:
        raise FhirError(404, "not-found", NOT_FOUND)
    changed = [m for m in conversation if m.unread and await records.mark_read(services, view, m)]
    if changed:
        messages = await records.load(services, view)
        conversation = threads.thread(messages, message_id)
    await _audit(request, view, "portal", conversation)
    target = next((m for m in conversation if threads.can_reply(m, messages)), None)
    return _page(request, view, "thread.html", messages, status=status, title=conversation[0].subject,
                 conversation=conversation, opened=message_id, reply_to=target, reply_error=reply_error,
                 reply_problems=[Problem(reply_error, "reply-body")] if reply_error else [],
                 reply_text=reply_text, notice=notice, body_max=threads.BODY_MAX)


@router.get("/messages/{message_id}")
async def read(request: Request, view: ViewingDep, message_id: str, notice: str | None = None) -> Response:
    return await _thread_page(request, view, message_id, notice=NOTICES.get(notice or ""))


@router.post("/messages/{message_id}/reply", dependencies=[Csrf])
async def reply(request: Request, view: ViewingDep, message_id: str,
                body: Annotated[str, Form()] = "") -> Response:
    services = services_of(request)
    body = body.replace("\r\n", "\n")
    messages = await records.load(services, view)
    original = next((m for m in messages if m.id == message_id), None)
    if original is None:
        raise FhirError(404, "not-found", NOT_FOUND)
    problem = threads.body_errors(body).get("body")
    status = 400
    if problem is None:
        try:
            new_id = await records.send(services, view, category=original.category, subject=original.subject,
                                        body=body, reply_to=original)
        except FhirError as exc:
            # A duplicate id means a reply was stored a moment ago (a double submit, another tab).
            problem = threads.ALREADY_REPLIED if exc.status == 409 else exc.diagnostics
            status = 409 if exc.status == 409 else 422
        else:
            await audit.record(services.store, view.caller, "create", patients=[view.patient_id],
                               entities=[f"Communication/{new_id}", f"Communication/{message_id}"])
            return RedirectResponse(f"/messages/{new_id}?notice=replied", status_code=303)
    return await _thread_page(request, view, message_id, status=status, reply_error=problem, reply_text=body)
