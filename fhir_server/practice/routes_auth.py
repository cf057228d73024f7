"""The console's way in: sign-in with email, password and the required one-time code; setting
up two-step after the invite's password; forgotten and reset passwords; sign-out.

The portal's rules, reused: the same lockout (5 failures in 15 minutes, wrong codes counted
with wrong passwords, under a ``staff:`` key of their own), password rules, single-use links
exchanged for a flow cookie, CSRF on every form, and server-side sessions (``session``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from starlette.background import BackgroundTask

from fhir_server import timefmt, two_step
from fhir_server.ops.metrics import LOCKOUTS, SIGN_IN_FAILURES
from fhir_server.portal import csrf, links, lockout, passwords
from fhir_server.portal.passwords import RULES
from fhir_server.portal.routes_auth import FLOW_COOKIES, _open_link, _password_form
from fhir_server.portal.sessions import services_of
from fhir_server.practice import accounts, session
from fhir_server.practice import staff as staff_store
from fhir_server.practice.pages import redirect, render
from fhir_server.practice.session import CODE, ENROL, IN

log = logging.getLogger("carespace.practice")
router = APIRouter()
Csrf = Depends(csrf.verify)
UNUSABLE = "practice/link_unusable.html"

WRONG_DETAILS = "That email and password do not match a staff account. Check them and try again."
WRONG_CODE = "That code is not right, or it has been used already. Enter the code your app shows now."
LOCKED = ("Too many unsuccessful attempts: for your security, sign-in is paused for 15 minutes. "
          "If you have forgotten your password, you can reset it.")
NOTICES = {"registered": "Your password is set.", "reset": "Your password has been changed. Sign in with it.",
           "signed_out": "You have signed out.", "ended": "Your session has ended. Please sign in again."}


def _key(email: str) -> str:
    """Lockout counts of staff sign-in, apart from the portal's for the same address."""
    return "staff:" + email.strip().lower()


@router.get("/practice")
async def home(request: Request) -> Response:
    found = await session.current(request)
    return redirect(session.HOME if found and found[1].get("stage") == IN else "/practice/login")


@router.get("/practice/login")
async def login_page(request: Request, next: str | None = None, notice: str | None = None) -> Response:
    found = await session.current(request)
    if found and found[1].get("stage") == IN:
        return redirect(session.safe_next(next))
    return render(request, "login.html", next=next if next and next.startswith("/practice/") else "",
                  notice=NOTICES.get(notice or ""), form={})


@router.post("/practice/login", dependencies=[Csrf])
async def login(request: Request, email: Annotated[str, Form()] = "", password: Annotated[str, Form()] = "",
                next: Annotated[str, Form()] = "") -> Response:
    services = services_of(request)
    db, now = services.db, services.store.clock()
    form = {"email": email}

    def again(message: str, status: int) -> Response:
        return render(request, "login.html", status=status, error=message, form=form,
                      next=next if next.startswith("/practice/") else "")

    if not email.strip() or not password:
        return again("Please enter your email and password.", 400)
    key = _key(email)
    if await lockout.charge(db, key, now):
        return again(LOCKED, 429)
    member = await staff_store.find_by_email(db, email)
    ok = await passwords.verify_password(member.password_hash if member else None, password)
    if member is None or not ok:
        return await _failed(request, key, member, again, WRONG_DETAILS)
    await lockout.refund(db, key)  # the password was right; the code is charged on its own
    response = redirect(f"/practice/two-step?next={quote(session.safe_next(next), safe='/')}" if member.two_step_on
                        else "/practice/two-step/setup")
    await session.start(request, response, member, CODE if member.two_step_on else ENROL, email_key=key)
    return response


async def _failed(request: Request, key: str, member: staff_store.Staff | None,
                  again: Callable[[str, int], Response], wrong: str) -> Response:
    """Count a failed password or code; the page says so, or that sign-in is now paused."""
    services = services_of(request)
    until = await lockout.record_failure(services.db, key, services.store.clock())
    SIGN_IN_FAILURES.inc()
    if until is None:
        return again(wrong, 400)
    log.warning("staff sign-in locked for 15 minutes after repeated failures")
    LOCKOUTS.inc()
    if member:
        from fhir_server.portal.invites import mailer

        await mailer(services).send(member.email, "staff_lockout", name=member.first_name,
                                    until=timefmt.moment(until, services.settings.zone))
    return again(LOCKED, 429)


# -- the second step ------------------------------------------------------------------------

@router.get("/practice/two-step")
async def code_page(request: Request, next: str | None = None) -> Response:
    found = await session.current(request)
    if found is None or found[1].get("stage") != CODE:
        return redirect("/practice/login")
    return render(request, "two_step.html", next=session.safe_next(next), email=found[0].email)


@router.post("/practice/two-step", dependencies=[Csrf])
async def code(request: Request, code: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "") -> Response:
    services = services_of(request)
    db, now = services.db, services.store.clock()
    found = await session.current(request)
    if found is None or found[1].get("stage") != CODE:
        return redirect("/practice/login?notice=ended")
    member, doc = found
    key = str(doc.get("email_key") or _key(member.email))

    def code_again(message: str, status: int) -> Response:
        return render(request, "two_step.html", status=status, error=message, next=session.safe_next(next),
                      email=member.email)

    if not code.strip():
        return code_again("Enter the six-digit code from your authenticator app, or a recovery code.", 400)
    if await lockout.charge(db, key, now):
        response = code_again(LOCKED, 429)
        await session.end(request, response)
        return response
    if not await two_step.accept(db[staff_store.STAFF], member.id, services.secret_box, code):
        response = await _failed(request, key, member, code_again, WRONG_CODE)
        if response.status_code == 429:
            await session.end(request, response)
        return response
    await lockout.clear(db, key)
    response = redirect(session.safe_next(next))
    await session.start(request, response, member, IN)
    return response


@router.get("/practice/two-step/setup")
async def setup_page(request: Request) -> Response:
    services = services_of(request)
    found = await session.current(request)
    if found is None or found[1].get("stage") != ENROL:
        return redirect("/practice/login")
    member, doc = found
    sealed = doc.get("pending_secret")
    if not sealed:  # kept in the session, sealed, until the first code proves the phone has it
        sealed = services.secret_box.seal(two_step.new_secret())
        await session.update(request, {"pending_secret": sealed})
    return _setup(request, member, services.secret_box.open(str(sealed)))


def _setup(request: Request, member: staff_store.Staff, secret: str, *, error: str | None = None,
           status: int = 200) -> Response:
    practice = services_of(request).settings.practice_name
    uri = two_step.provisioning_uri(secret, member.email, f"{practice} console")
    grouped = " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
    return render(request, "two_step_setup.html", status=status, qr=two_step.qr_svg(uri), secret=grouped,
                  email=member.email, error=error)


@router.post("/practice/two-step/setup", dependencies=[Csrf])
async def setup(request: Request, code: Annotated[str, Form()] = "") -> Response:
    services = services_of(request)
    found = await session.current(request)
    if found is None or found[1].get("stage") != ENROL or not found[1].get("pending_secret"):
        return redirect("/practice/login?notice=ended")
    member, doc = found
    secret = services.secret_box.open(str(doc["pending_secret"]))
    step = two_step.matching_step(secret, code)
    if step is None:
        return _setup(request, member, secret, status=400,
                      error="That code does not match. Check that your phone's clock is right, and enter the code "
                            "your app shows now.")
    codes = two_step.new_recovery_codes()
    enrolment = two_step.enrolment(services.secret_box, secret, codes, services.store.clock())
    enrolment["last_step"] = step  # the code just used cannot sign in again
    if not await staff_store.set_two_step(services.db, member.id, enrolment):
        return redirect("/practice/login?notice=ended")
    response = render(request, "recovery_codes.html", codes=codes, name=member.first_name)
    await session.start(request, response, member, IN)
    return response


@router.post("/practice/logout", dependencies=[Csrf])
async def logout(request: Request) -> Response:
    response = redirect("/practice/login?notice=signed_out")
    await session.end(request, response)
    return response


# -- the invite: set a password, then two-step ------------------------------------------------

@router.get("/practice/register")
async def register_page(request: Request, token: str | None = None) -> Response:
    link, response = await _open_link(request, links.STAFF_INVITE, token, unusable=UNUSABLE)
    if response:
        return response
    assert link
    return render(request, "register.html", email=link.email, rules=RULES)


@router.post("/practice/register", dependencies=[Csrf])
async def register(request: Request, password: Annotated[str, Form()] = "",
                   password_confirm: Annotated[str, Form()] = "") -> Response:
    link, response = await _password_form(request, links.STAFF_INVITE, "practice/register.html", password,
                                           password_confirm, unusable=UNUSABLE)
    if response:
        return response
    assert link
    services = services_of(request)
    db, now = services.db, services.store.clock()
    member = await staff_store.get(db, link.subject)
    if member is None or member.password_hash:
        return render(request, "link_unusable.html", status=410, kind=links.STAFF_INVITE, reason="used")
    password_hash = await passwords.hash_password(password)
    try:
        await links.redeem(db, link.id, links.STAFF_INVITE, now)
    except links.LinkUnusable as exc:
        return render(request, "link_unusable.html", status=410, kind=links.STAFF_INVITE, reason=exc.reason)
    await staff_store.set_password(db, member.id, password_hash)
    cookie, path = FLOW_COOKIES[links.STAFF_INVITE]
    await links.end_flow(db, request.cookies.get(cookie))
    response = redirect("/practice/two-step/setup")
    response.delete_cookie(cookie, path=path)
    await session.start(request, response, member, ENROL, email_key=_key(member.email))
    return response


# -- forgotten password -------------------------------------------------------------------------

@router.get("/practice/forgot-password")
async def forgot_page(request: Request) -> Response:
    return render(request, "forgot.html", form={})


@router.post("/practice/forgot-password", dependencies=[Csrf])
async def forgot(request: Request, email: Annotated[str, Form()] = "") -> Response:
    if "@" not in email:
        return render(request, "forgot.html", status=400, form={"email": email},
                      error="Please enter the email address you sign in with.")
    response = render(request, "forgot_sent.html", email=email.strip())
    response.background = BackgroundTask(accounts.reset_after_answer, services_of(request), email)
    return response


@router.get("/practice/reset-password")
async def reset_page(request: Request, token: str | None = None) -> Response:
    link, response = await _open_link(request, links.STAFF_RESET, token, unusable=UNUSABLE)
    if response:
        return response
    assert link
    return render(request, "reset.html", email=link.email, rules=RULES)


@router.post("/practice/reset-password", dependencies=[Csrf])
async def reset(request: Request, password: Annotated[str, Form()] = "",
                password_confirm: Annotated[str, Form()] = "") -> Response:
    link, response = await _password_form(request, links.STAFF_RESET, "practice/reset.html", password,
                                           password_confirm, unusable=UNUSABLE)
    if response:
        return response
    assert link
    services = services_of(request)
    db, now = services.db, services.store.clock()
    password_hash = await passwords.hash_password(password)
    try:
        await links.redeem(db, link.id, links.STAFF_RESET, now)
    except links.LinkUnusable as exc:
        return render(request, "link_unusable.html", status=410, kind=links.STAFF_RESET, reason=exc.reason)
    await staff_store.set_password(db, link.subject, password_hash)
    ended = await session.end_all_others(request, link.subject)
    log.info("staff password reset; %d session(s) ended", ended)
    await lockout.clear(db, _key(link.email))
    cookie, path = FLOW_COOKIES[links.STAFF_RESET]
    await links.end_flow(db, request.cookies.get(cookie))
    response = redirect("/practice/login?notice=reset")  # the code is still asked at sign-in
    response.delete_cookie(cookie, path=path)
    return response
