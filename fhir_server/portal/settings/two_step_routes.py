"""``/settings/two-step``: turning two-step sign-in on (QR code, first code, recovery codes
shown once) and off (password and a current code, charged to the sign-in lockout). Either
change is mailed to the account, so a change the person did not make does not go unseen."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from fhir_server import two_step
from fhir_server.db import ACCOUNTS
from fhir_server.portal import csrf, enrolment, lockout, passwords
from fhir_server.portal.invites import mailer
from fhir_server.portal.pages import render
from fhir_server.portal.routes_auth import LOCKED, redirect
from fhir_server.portal.sessions import SignedIn, services_of
from fhir_server.portal.settings.page import settings_page

router = APIRouter()
Csrf = Depends(csrf.verify)
SETUP = "/settings/two-step"
WRONG_FIRST_CODE = "That code did not match. Check that the app shows CareSpace and enter the code it shows now."
OFF_MISSING = "Enter your password and a current code to turn two-step sign-in off."
WRONG_OFF = "Your password or the code did not match. Two-step sign-in is still on."


def _grouped(secret: str) -> str:
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


async def _setup_page(request: Request, account: SignedIn, *, error: str | None = None,
                      status: int = 200) -> Response:
    services = services_of(request)
    secret = enrolment.setup_secret(services.secret_box, await enrolment.state(services.db, account.id))
    if secret is None:
        return redirect("/settings")
    uri = two_step.provisioning_uri(secret, account.email, services.settings.practice_name)
    return render(request, "settings/two_step_setup.html", status=status, title="Turn on two-step sign-in",
                  qr=two_step.qr_svg(uri), secret=_grouped(secret), error=error)


@router.post(f"{SETUP}/start", dependencies=[Csrf])
async def start(request: Request, account: SignedIn) -> Response:
    services = services_of(request)
    await enrolment.start(services.db, services.secret_box, account.id, services.store.clock())
    return redirect(SETUP)


@router.get(SETUP)
async def setup_page(request: Request, account: SignedIn) -> Response:
    return await _setup_page(request, account)


@router.post(SETUP, dependencies=[Csrf])
async def confirm(request: Request, account: SignedIn, code: Annotated[str, Form()] = "") -> Response:
    services = services_of(request)
    codes = await enrolment.confirm(services.db, services.secret_box, account.id, code[:20],
                                    services.store.clock())
    if codes is None:
        return await _setup_page(request, account, error=WRONG_FIRST_CODE, status=400)
    await mailer(services).send(account.email, "two_step_changed", name=account.first_name, on=True)
    return render(request, "settings/recovery_codes.html", title="Your recovery codes", codes=codes)


@router.post(f"{SETUP}/off", dependencies=[Csrf])
async def turn_off(request: Request, account: SignedIn, password: Annotated[str, Form()] = "",
                   code: Annotated[str, Form()] = "") -> Response:
    services = services_of(request)
    db, now = services.db, services.store.clock()
    if not password or not code.strip():
        return await settings_page(request, account, status=400, problem=OFF_MISSING)
    if await lockout.charge(db, account.email, now):
        return await settings_page(request, account, status=429, problem=LOCKED)
    password_ok = await passwords.verify_password(account.password_hash, password)
    # The code is checked only after the password, so a wrong password does not use up a code.
    if not password_ok or not await two_step.accept(db[ACCOUNTS], account.id, services.secret_box, code[:64]):
        until = await lockout.record_failure(db, account.email, now)
        return await settings_page(request, account, status=429 if until else 400,
                                   problem=LOCKED if until else WRONG_OFF)
    await lockout.clear(db, account.email)
    await enrolment.turn_off(db, account.id)
    await mailer(services).send(account.email, "two_step_changed", name=account.first_name, on=False)
    return redirect("/settings?notice=two-step-off")
