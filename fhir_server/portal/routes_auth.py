"""The way in: sign-in, sign-out, registration from an invite, forgotten and reset passwords."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.background import BackgroundTask

from fhir_server import timefmt
from fhir_server.ops.metrics import LOCKOUTS, SIGN_IN_FAILURES
from fhir_server.portal import accounts, csrf, invites, links, lockout, passwords, second_step, sessions
from fhir_server.portal.accounts import EmailInUse
from fhir_server.portal.delegates import accept as delegate_accept
from fhir_server.portal.forms import Problem
from fhir_server.portal.invites import display_name, mailer
from fhir_server.portal.pages import render
from fhir_server.portal.passwords import RULE_TEXT, RULES
from fhir_server.portal.sessions import current_account, safe_next, services_of
from fhir_server.resources.errors import FhirError

log = logging.getLogger("carespace.portal")
router = APIRouter()
Csrf = Depends(csrf.verify)

WRONG_DETAILS = "Those details do not match our records. Check your email, password and date of birth and try again."
LOCKED = ("Too many unsuccessful attempts: for your security, sign-in is paused for 15 minutes. "
          "If you have forgotten your password, you can reset it.")
FLOW_COOKIES = {links.INVITE: ("carespace_register", "/register"), links.RESET: ("carespace_reset", "/reset-password"),
                links.STAFF_INVITE: ("carespace_staff_register", "/practice/register"),
                links.STAFF_RESET: ("carespace_staff_reset", "/practice/reset-password")}
UNUSABLE = "auth/link_unusable.html"


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303,
                            headers={"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"})


@router.get("/")
async def home(request: Request) -> Response:
    return redirect("/health" if await current_account(request) else "/login")


# -- sign in and out ------------------------------------------------------------------------

NOTICES = {
    "reset": "Your password has been changed. Sign in with your new password.",
    "signed_out": "You have signed out.",
}


@router.get("/login")
async def login_page(request: Request, next: str | None = None, notice: str | None = None) -> Response:
    if await current_account(request):
        return redirect(safe_next(next))
    return render(request, "auth/login.html", next=safe_next(next, ""), notice=NOTICES.get(notice or ""), form={})


@router.post("/login", dependencies=[Csrf])
async def login(request: Request, email: Annotated[str, Form()] = "", password: Annotated[str, Form()] = "",
                birth_date: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "") -> Response:
    services = services_of(request)
    db, now = services.db, services.store.clock()
    key = accounts.normalise_email(email)
    form = {"email": email, "birth_date": birth_date}

    def again(message: str, status: int, *fields: str) -> Response:
        return render(request, "auth/login.html", status=status, problems=[Problem(message, *fields)], form=form,
                      next=safe_next(next, ""))

    if not key or not password or not birth_date:
        empty = [name for name, value in (("email", key), ("password", password), ("birth_date", birth_date))
                 if not value]
        return again("Please enter your email, password and date of birth.", 400, *empty)
    if await lockout.charge(db, key, now):  # before the password is checked: parallel guesses share the limit
        return again(LOCKED, 429)
    account = await accounts.find_by_email(db, key)
    password_ok = await passwords.verify_password(account.password_hash if account else None, password)
    if account is None or not password_ok or account.birth_date != birth_date.strip():
        until = await lockout.record_failure(db, key, now)
        SIGN_IN_FAILURES.inc()
        if until is None:
            return again(WRONG_DETAILS, 400, "email", "password", "birth_date")
        log.warning("sign-in locked for 15 minutes after repeated failures")
        LOCKOUTS.inc()
        if account:
            await mailer(services).send(account.email, "lockout", name=account.first_name,
                                        until=timefmt.moment(until, services.settings.zone))
        return again(LOCKED, 429)
    if await second_step.required(db, account.id):
        await lockout.refund(db, key)  # the code's failures count from here; a success clears them
        response = redirect(second_step.PATH)
        await second_step.begin(request, response, account, key, safe_next(next))
        return response
    await lockout.clear(db, key)
    response = redirect(safe_next(next))
    await sessions.start(request, response, account)
    return response


@router.post("/logout", dependencies=[Csrf])
async def logout(request: Request) -> Response:
    response = redirect("/login?notice=signed_out")
    await sessions.end(request, response)
    return response


# -- links from emails: exchanged for a flow cookie, then the page without the token ------

async def _open_link(request: Request, kind: str, token: str | None, *,
                     unusable: str = UNUSABLE) -> tuple[links.Link | None, Response | None]:
    """The link behind this request, or the response to send instead (a redirect or the
    'this link can no longer be used' page: ``unusable``, which the practice console sets)."""
    services = services_of(request)
    db, now = services.db, services.store.clock()
    cookie, path = FLOW_COOKIES[kind]
    try:
        if token:
            link = await links.check(db, links.digest(token), kind, now)
            raw = await links.start_flow(db, link, now)
            response = redirect(path)
            sessions.set_cookie(response, cookie, raw, secure=services.settings.secure_cookies, path=path)
            return None, response
        link_id = await links.flow_link(db, request.cookies.get(cookie), kind, now)
        return await links.check(db, link_id, kind, now), None
    except links.LinkUnusable as exc:
        return None, render(request, unusable, status=410, kind=kind, reason=exc.reason)


def _password_problems(password: str, confirm: str) -> list[str]:
    problems = [Problem(RULE_TEXT[name], "password") for name in passwords.unmet_rules(password)]
    if password and password != confirm:
        problems.append(Problem("The two passwords must match", "password_confirm"))
    return problems


async def _password_form(request: Request, kind: str, template: str, password: str,
                         confirm: str, *, unusable: str = UNUSABLE) -> tuple[links.Link | None, Response | None]:
    """The posted new-password form of a link flow (registration, reset): the link it belongs
    to, or the response to send instead (the unusable-link page, or the form with each unmet rule)."""
    link, response = await _open_link(request, kind, None, unusable=unusable)
    if response:
        return None, response
    assert link
    problems = _password_problems(password, confirm=confirm)
    if problems:
        return None, render(request, template, status=400, email=link.email, rules=RULES, problems=problems)
    return link, None


@router.get("/register")
async def register_page(request: Request, token: str | None = None) -> Response:
    link, response = await _open_link(request, links.INVITE, token)
    if response:
        return response
    assert link
    if link.data.get("related_person") and await accounts.find_by_email(services_of(request).db, link.email):
        return redirect("/register/accept")  # a delegate invite to someone who has an account already
    return render(request, "auth/register.html", email=link.email, rules=RULES)


@router.post("/register", dependencies=[Csrf])
async def register(request: Request, password: Annotated[str, Form()] = "",
                   password_confirm: Annotated[str, Form()] = "") -> Response:
    link, response = await _password_form(request, links.INVITE, "auth/register.html", password, password_confirm)
    if response:
        return response
    assert link
    services = services_of(request)
    db, now = services.db, services.store.clock()
    data = link.data
    try:
        if data.get("related_person"):
            person = (await services.store.read("RelatedPerson", data["related_person"])).resource
            kind, patient_id = "delegate", None
            related = [{"patient": data["patient_id"], "related_person": data["related_person"],
                        "consent": data.get("consent")}]
        else:
            person = (await services.store.read("Patient", data["patient_id"])).resource
            kind, patient_id, related = "patient", data["patient_id"], []
    except FhirError:
        return render(request, "auth/link_unusable.html", status=410, kind=links.INVITE, reason="unknown")
    assert person is not None
    if await accounts.find_by_email(db, link.email):
        return render(request, "auth/register.html", status=409, email=link.email, rules=RULES,
                      problems=["An account already uses this email. Sign in, or reset your password."])
    password_hash = await passwords.hash_password(password)
    try:
        await links.redeem(db, link.id, links.INVITE, now)
    except links.LinkUnusable as exc:
        return render(request, "auth/link_unusable.html", status=410, kind=links.INVITE, reason=exc.reason)
    try:
        account = await accounts.create(db, email=link.email, password_hash=password_hash,
                              birth_date=str(person.get("birthDate", "")), name=display_name(person), kind=kind,
                              patient_id=patient_id, related_persons=related, now=now)
    except EmailInUse:
        return render(request, "auth/register.html", status=409, email=link.email, rules=RULES,
                      problems=["An account already uses this email. Sign in, or reset your password."])
    if kind == "delegate":
        await delegate_accept.on_registration(services, account, data)
    cookie, path = FLOW_COOKIES[links.INVITE]
    await links.end_flow(db, request.cookies.get(cookie))
    # Setting the password from the mailed link proves the person holds the email, as a sign-in
    # would: they go straight to their record rather than being asked to sign in again.
    response = redirect("/health?notice=registered")
    response.delete_cookie(cookie, path=path)
    await sessions.start(request, response, account)
    return response


# -- forgotten password ----------------------------------------------------------------------

@router.get("/forgot-password")
async def forgot_page(request: Request) -> Response:
    return render(request, "auth/forgot.html", form={})


@router.post("/forgot-password", dependencies=[Csrf])
async def forgot(request: Request, email: Annotated[str, Form()] = "") -> Response:
    services = services_of(request)
    if "@" not in email:
        return render(request, "auth/forgot.html", status=400, form={"email": email},
                      problems=[Problem("Please enter the email address you use to sign in.", "email")])
    response = render(request, "auth/forgot_sent.html", email=email.strip())
    # The same answer at once for every address; the lookup and the mail run once it is sent.
    response.background = BackgroundTask(invites.reset_after_answer, services, email)
    return response


@router.get("/reset-password")
async def reset_page(request: Request, token: str | None = None) -> Response:
    link, response = await _open_link(request, links.RESET, token)
    if response:
        return response
    assert link
    return render(request, "auth/reset.html", email=link.email, rules=RULES)


@router.post("/reset-password", dependencies=[Csrf])
async def reset(request: Request, password: Annotated[str, Form()] = "",
                password_confirm: Annotated[str, Form()] = "") -> Response:
    link, response = await _password_form(request, links.RESET, "auth/reset.html", password, password_confirm)
    if response:
        return response
    assert link
    services = services_of(request)
    db, now = services.db, services.store.clock()
    password_hash = await passwords.hash_password(password)
    try:
        await links.redeem(db, link.id, links.RESET, now)
    except links.LinkUnusable as exc:
        return render(request, "auth/link_unusable.html", status=410, kind=links.RESET, reason=exc.reason)
    await accounts.set_password(db, link.subject, password_hash)
    current = await current_account(request)
    keep = request.cookies.get(sessions.COOKIE) if current and current.id == link.subject else None
    ended = await sessions.end_all_others(db, link.subject, keep)
    log.info("password reset; %d other session(s) ended", ended)
    await lockout.clear(db, link.email)
    cookie, path = FLOW_COOKIES[links.RESET]
    await links.end_flow(db, request.cookies.get(cookie))
    response = redirect("/health" if keep else "/login?notice=reset")
    response.delete_cookie(cookie, path=path)
    return response
