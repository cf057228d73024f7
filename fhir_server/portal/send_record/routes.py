"""``/send-record``: the form (for the patient in view; a delegate sends on the patient's behalf
and is audited as themselves) and the list of sent records with their Revoke buttons."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from fhir_server import mail, timefmt
from fhir_server.portal import csrf
from fhir_server.portal.forms import Problem
from fhir_server.portal.pages import render
from fhir_server.portal.passwords import RULES
from fhir_server.portal.send_record.form import MAX_NOTES, SendForm, check
from fhir_server.portal.sessions import services_of
from fhir_server.portal.viewing import Viewing, ViewingDep
from fhir_server.shl import links
from fhir_server.shl.bundle import EmptyPeriod, InvalidBundle
from fhir_server.shl.links import EXPIRY_DAYS

log = logging.getLogger("carespace.portal")
router = APIRouter()
Csrf = Depends(csrf.verify)

NOTICES = {
    "revoked": "The link is revoked: it no longer opens, even with the password.",
    "gone": "That link was already revoked.",
}


def _when(request: Request, moment: datetime) -> str:
    return timefmt.moment(moment, services_of(request).settings.zone)


def _page(request: Request, view: Viewing, sent: list[links.SentRecord], form: SendForm, *,
          status: int = 200, notice: str | None = None, just_sent: links.SentRecord | None = None) -> Response:
    now = services_of(request).store.clock()
    return render(request, "send_record/page.html", status=status, active="health", title="Send your record",
                  view=view, form=form, sent=sent, rules=RULES, expiry_days=EXPIRY_DAYS, max_notes=MAX_NOTES,
                  notice=notice, just_sent=just_sent, now=now)


@router.get("/send-record")
async def send_record_page(request: Request, view: ViewingDep, sent: str | None = None,
                           notice: str | None = None) -> Response:
    services = services_of(request)
    today = services.store.clock().astimezone(services.settings.zone).date()  # the patient's today, not UTC's
    form = SendForm(start=(today - timedelta(days=365)).isoformat(), end=today.isoformat())
    records = await links.list_sent(services_of(request).db, view.patient_id)
    just_sent = next((r for r in records if r.id == sent), None)
    return _page(request, view, records, form, notice=NOTICES.get(notice or ""), just_sent=just_sent)


@router.post("/send-record", dependencies=[Csrf])
async def send_record(request: Request, view: ViewingDep, recipient: Annotated[str, Form()] = "",
                      start: Annotated[str, Form()] = "", end: Annotated[str, Form()] = "",
                      notes: Annotated[str, Form()] = "", days: Annotated[str, Form()] = "14",
                      password: Annotated[str, Form()] = "", password_confirm: Annotated[str, Form()] = "") -> Response:
    services = services_of(request)
    now = services.store.clock()
    form = check(SendForm(recipient=recipient, start=start, end=end, notes=notes.strip(), days=days),
                 password, password_confirm, now.astimezone(services.settings.zone).date())

    async def again() -> Response:
        records = await links.list_sent(services.db, view.patient_id)
        return _page(request, view, records, form, status=400)

    if form.problems or form.password_problems:
        return await again()
    assert form.start_date and form.end_date
    sender = view.account.name or view.account.email
    try:
        created = await links.create_link(
            services, view.caller, patient_id=view.patient_id, sent_by_name=sender, recipient=form.recipient,
            start=form.start_date, end=form.end_date, notes=form.notes, passcode=password, days=form.expiry_days)
    except EmptyPeriod:
        zone = services.settings.zone
        form.problems.append(Problem(f"There is nothing in {'the' if view.is_delegate else 'your'} record between "
                                     f"{timefmt.day(form.start_date, zone)} and {timefmt.day(form.end_date, zone)}: "
                                     "no lab results, documents or messages. Choose a longer or another period.",
                                     "start", "end"))
        return await again()
    except links.TooLarge:
        form.problems.append(Problem("The record of this period is too large to send in one link. Choose a shorter "
                                     "period.", "start", "end"))
        return await again()
    except InvalidBundle as exc:
        log.error("a sent record did not validate: %s", exc)  # locations and types, no patient data
        form.problems.append("We could not prepare the record of this period. Please try again later, or contact "
                             "the practice.")
        return await again()
    record = created.record
    await mail.Mailer(services.settings, services.db).send(
        form.recipient, "record_sent", sender=sender, patient_name=view.patient_name, on_behalf=view.is_delegate,
        notes=form.notes, start=timefmt.day(form.start_date, services.settings.zone),
        end=timefmt.day(form.end_date, services.settings.zone),
        expires=_when(request, record.expires), link=created.viewer_url, counts=created.contents.counts)
    return RedirectResponse(f"/send-record?sent={record.id}", status_code=303, headers={"Cache-Control": "no-store"})


@router.get("/send-record/{record_id}/revoke")
async def confirm_revoke(request: Request, record_id: str, view: ViewingDep) -> Response:
    """Revoking cannot be undone: the list's Revoke asks first, on this page."""
    services = services_of(request)
    record = next((r for r in await links.list_sent(services.db, view.patient_id) if r.id == record_id), None)
    if record is None:
        raise HTTPException(404, "We could not find that sent record. It may have been removed.")
    if record.status(services.store.clock()) != "active":
        return RedirectResponse("/send-record?notice=gone", status_code=303, headers={"Cache-Control": "no-store"})
    return render(request, "send_record/revoke.html", active="health", title="Revoke the link?", view=view,
                  record=record)


@router.post("/send-record/{record_id}/revoke", dependencies=[Csrf])
async def revoke(request: Request, record_id: str, view: ViewingDep) -> Response:
    done = await links.revoke(services_of(request), view.caller, view.patient_id, record_id)
    return RedirectResponse(f"/send-record?notice={'revoked' if done else 'gone'}", status_code=303,
                            headers={"Cache-Control": "no-store"})
