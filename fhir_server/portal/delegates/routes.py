"""Manage users (``/users``), the patient switcher, and accepting an invite into an existing account."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from fhir_server import audit
from fhir_server.portal import csrf, links
from fhir_server.portal.delegates import accept, grants
from fhir_server.portal.delegates.resources import RELATIONSHIPS
from fhir_server.portal.invites import display_name
from fhir_server.portal.pages import render
from fhir_server.portal.sessions import current_account, services_of
from fhir_server.portal.viewing import Viewing, ViewingDep, set_patient_in_view
from fhir_server.resources.errors import FhirError

router = APIRouter()
Csrf = Depends(csrf.verify)
REGISTER_COOKIE, REGISTER_PATH = "carespace_register", "/register"  # the invite flow's cookie (routes_auth)
DONE = {"invited": "Invitation sent to {who}. The link works once, for 4 days.",
        "resent": "A new invitation was sent to {who}. The earlier link no longer works.",
        "revoked": "Access for {who} has ended. They can no longer see your record."}


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


async def patient_only(view: ViewingDep) -> Viewing:
    """Only the patient manages who sees their record; a delegate gets a 403 page (GET and POST)."""
    if view.caller.kind != "patient":
        raise HTTPException(403, f"Only {view.patient_name} can manage who has access to their record. "
                                 "If you have your own record here, switch to it from the menu under your name.")
    return view


PatientView = Annotated[Viewing, Depends(patient_only)]


async def _page(request: Request, view: Viewing, *, status: int = 200, form: dict[str, str] | None = None,
                problems: list[str] | None = None, done: str | None = None, who: str | None = None) -> Response:
    people = await grants.list_grants(services_of(request), view.caller, view.patient_id)
    notice = None
    if done in DONE and who:
        label = await grants.label_of(services_of(request), view.caller, who)
        notice = DONE[done].format(who=label) if label else None
    return render(request, "users/list.html", status=status, active="users", title="Manage users", people=people,
                  form=form or {}, problems=problems or [], notice=notice, relationships=RELATIONSHIPS)


@router.get("/users")
async def users(request: Request, view: PatientView, done: str | None = None, who: str | None = None) -> Response:
    return await _page(request, view, done=done, who=who)


@router.post("/users/invite", dependencies=[Csrf])
async def invite(request: Request, view: PatientView, email: Annotated[str, Form()] = "",
                 birth_date: Annotated[str, Form()] = "", name: Annotated[str, Form()] = "",
                 relationship: Annotated[str, Form()] = "") -> Response:
    form = {"email": email, "birth_date": birth_date, "name": name, "relationship": relationship}
    try:
        grant = await grants.invite(services_of(request), view.caller, view.patient, email=email,
                                    birth_date=birth_date, name=name, relationship=relationship,
                                    account_email=view.account.email)
    except grants.InviteProblem as exc:
        return await _page(request, view, status=400, form=form, problems=exc.problems)
    return _redirect(f"/users?done=invited&who={grant.consent_id}")


@router.post("/users/{consent_id}/resend", dependencies=[Csrf])
async def resend(request: Request, view: PatientView, consent_id: str) -> Response:
    try:
        grant = await grants.resend(services_of(request), view.caller, view.patient, consent_id)
    except grants.InviteProblem as exc:
        return await _page(request, view, status=409, problems=exc.problems)
    return _redirect(f"/users?done=resent&who={grant.consent_id}")


@router.get("/users/{consent_id}/revoke")
async def revoke_page(request: Request, view: PatientView, consent_id: str) -> Response:
    services = services_of(request)
    grant = await grants.find(services, view.caller, view.patient_id, consent_id)
    await audit.record(services.store, view.caller, "portal", patients=[view.patient_id],
                       entities=[f"Consent/{consent_id}", f"RelatedPerson/{grant.person_id}"])
    return render(request, "users/revoke.html", active="users", title="Revoke access", grant=grant)


@router.post("/users/{consent_id}/revoke", dependencies=[Csrf])
async def revoke(request: Request, view: PatientView, consent_id: str) -> Response:
    grant = await grants.revoke(services_of(request), view.caller, view.patient_id, consent_id)
    return _redirect(f"/users?done=revoked&who={grant.consent_id}")


@router.post("/switch-patient", dependencies=[Csrf])
async def switch_patient(request: Request, view: ViewingDep, patient_id: Annotated[str, Form()] = "") -> Response:
    if patient_id not in {pid for pid, _ in view.choices}:
        raise HTTPException(403, "You do not have access to that record.")
    await set_patient_in_view(request, patient_id)
    return _redirect("/health")


# -- an invite accepted into an account the person already has ------------------------------

async def _invite_link(request: Request) -> links.Link:
    services = services_of(request)
    now = services.store.clock()
    link_id = await links.flow_link(services.db, request.cookies.get(REGISTER_COOKIE), links.INVITE, now)
    return await links.check(services.db, link_id, links.INVITE, now)


@router.get("/register/accept")
async def accept_page(request: Request) -> Response:
    try:
        link = await _invite_link(request)
    except links.LinkUnusable as exc:
        return render(request, "auth/link_unusable.html", status=410, kind=links.INVITE, reason=exc.reason)
    if not link.data.get("related_person"):
        return _redirect("/register")
    services = services_of(request)
    patient = (await services.store.read("Patient", link.data["patient_id"])).resource or {}
    account = await current_account(request)
    state = "sign_in" if account is None else ("confirm" if account.email == link.email else "other_account")
    return render(request, "users/accept.html", title="Accept the invitation", state=state, email=link.email,
                  patient_name=display_name(patient) or "A patient")


@router.post("/register/accept", dependencies=[Csrf])
async def accept_invite(request: Request) -> Response:
    account = await current_account(request)
    try:
        link = await _invite_link(request)
        if account is None or account.email != link.email or not link.data.get("related_person"):
            return _redirect("/register/accept")
        patient_id = await accept.into_account(services_of(request), account, link)
    except links.LinkUnusable as exc:
        return render(request, "auth/link_unusable.html", status=410, kind=links.INVITE, reason=exc.reason)
    except (accept.InviteWithdrawn, FhirError):
        return render(request, "auth/link_unusable.html", status=410, kind=links.INVITE, reason="unknown")
    await links.end_flow(services_of(request).db, request.cookies.get(REGISTER_COOKIE))
    await set_patient_in_view(request, patient_id)
    response = _redirect("/health")
    response.delete_cookie(REGISTER_COOKIE, path=REGISTER_PATH)
    return response
