"""``/login/code``: the second step of signing in (see ``second_step``). A wrong code is a
failure of the sign-in lockout like a wrong password; the fifth locks sign-in for 15 minutes
and ends the pending sign-in."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from fhir_server import timefmt, two_step
from fhir_server.db import ACCOUNTS
from fhir_server.ops.metrics import LOCKOUTS, SIGN_IN_FAILURES
from fhir_server.portal import accounts, csrf, lockout, second_step, sessions
from fhir_server.portal.forms import Problem
from fhir_server.portal.invites import mailer
from fhir_server.portal.pages import render
from fhir_server.portal.routes_auth import LOCKED, redirect
from fhir_server.portal.sessions import services_of

log = logging.getLogger("carespace.portal")
router = APIRouter()
EXPIRED = "Your sign-in took too long or was already finished. Please sign in again."
WRONG_CODE = ("That code did not work. Enter the 6-digit code your authenticator app shows now, "
              "or one of your recovery codes.")


def _login_again(request: Request, message: str, status: int) -> Response:
    return render(request, "auth/login.html", status=status, problems=[Problem(message)], form={}, next="")


@router.get(second_step.PATH)
async def code_page(request: Request) -> Response:
    if await sessions.current_account(request):
        return redirect("/health")
    if await second_step.pending_of(request) is None:
        return _login_again(request, EXPIRED, 400)
    return render(request, "auth/code.html", title="Enter your code")


@router.post(second_step.PATH, dependencies=[Depends(csrf.verify)])
async def enter_code(request: Request, code: Annotated[str, Form()] = "") -> Response:
    services = services_of(request)
    db, now = services.db, services.store.clock()
    pending = await second_step.pending_of(request)
    if pending is None:
        return _login_again(request, EXPIRED, 400)
    if not code.strip():
        return render(request, "auth/code.html", status=400, title="Enter your code",
                      problems=[Problem("Enter the code from your authenticator app.", "code")])
    if await lockout.charge(db, pending.key, now):
        response = _login_again(request, LOCKED, 429)
        await second_step.finish(request, response, pending)
        return response
    if not await two_step.accept(db[ACCOUNTS], pending.account_id, services.secret_box, code[:64]):
        SIGN_IN_FAILURES.inc()
        until = await lockout.record_failure(db, pending.key, now)
        if until is None:
            return render(request, "auth/code.html", status=400, title="Enter your code",
                          problems=[Problem(WRONG_CODE, "code")])
        log.warning("sign-in locked for 15 minutes after repeated failures")
        LOCKOUTS.inc()
        account = await accounts.get(db, pending.account_id)
        if account:
            await mailer(services).send(account.email, "lockout", name=account.first_name,
                                        until=timefmt.moment(until, services.settings.zone))
        response = _login_again(request, LOCKED, 429)
        await second_step.finish(request, response, pending)
        return response
    account = await accounts.get(db, pending.account_id)
    if account is None:
        return _login_again(request, EXPIRED, 400)
    await lockout.clear(db, pending.key)
    response = redirect(pending.next)
    await second_step.finish(request, response, pending)
    await sessions.start(request, response, account)
    return response
