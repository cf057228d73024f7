"""The authorization endpoint (RFC 6749 §4.1.1–4.1.2; SMART App Launch 2.x), GET and POST.

- Unknown client or a ``redirect_uri`` that is not exactly one registered: an error page,
  never a redirect (§4.1.2.1: "MUST NOT automatically redirect the user-agent to the
  invalid redirection URI").
- Everything else wrong is sent back to the app as ``error`` with its ``state``.
- ``aud`` must be this server's FHIR base (SMART: "the EHR SHALL ... reject the request if
  the aud value does not match"); PKCE S256 is required.
- The user signs in with the portal (``/login?next=``), then approves on a consent page that
  names the app and what it asks in plain words, where resource types can be unticked and a
  patient chosen. The decision is posted with a one-time ticket bound to the signed-in account
  and the portal's CSRF token (another site must not be able to post an "Allow").
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from fhir_server.db import take
from fhir_server.portal import csrf, pages
from fhir_server.services import Services
from fhir_server.smart import codes, launch, pkce, signin, store
from fhir_server.smart.clients import Client, get_client
from fhir_server.smart.errors import (
    AccessDenied,
    InvalidRequest,
    InvalidScope,
    OAuthError,
    UnauthorizedClient,
    UnsupportedResponseType,
)
from fhir_server.smart.scopes import ScopeError, describe, intersect_scopes, parse_grant
from fhir_server.smart.store import AUTHORIZE_REQUESTS, Authorization

TICKET_TTL = 600
ALWAYS_GRANTED = {"openid", "fhirUser", "profile", "launch", "launch/patient"}
router = APIRouter()


def _redirect(uri: str, params: dict[str, str | None]) -> RedirectResponse:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return RedirectResponse(f"{uri}{'&' if '?' in uri else '?'}{query}", status_code=303)


def _error_redirect(uri: str, exc: OAuthError, state: str | None) -> RedirectResponse:
    return _redirect(uri, {"error": exc.error, "error_description": exc.description, "state": state})


def _page(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    # The consent and error pages are portal pages: same layout, headers (no-store, no framing).
    return pages.render(request, template, status=status, **context)


def _error_page(request: Request, message: str, status: int = 400) -> Response:
    return _page(request, "smart/error.html", status, message=message)


def _offered_scope(services: Services, client: Client, params: dict[str, str]) -> list[str]:
    requested = params.get("scope", "")
    try:
        for scope in requested.split():
            grant = parse_grant(scope)
            if grant is not None and grant.context == "system":
                raise InvalidScope("system/ scopes are for back-end clients, not for apps a person signs in to.")
        offered = intersect_scopes(requested, client.scope)
    except ScopeError as exc:
        raise InvalidScope(str(exc)) from None
    if not any(parse_grant(s) for s in offered) and "openid" not in offered:
        raise InvalidScope("The app asks for no scope this server can grant it.")
    return offered


def _validate(services: Services, client: Client, params: dict[str, str]) -> list[str]:
    if client.kind == "backend":
        raise UnauthorizedClient("A back-end client cannot use the authorization code flow.")
    if params.get("response_type") != "code":
        raise UnsupportedResponseType("response_type must be 'code'.")
    pkce.check_challenge(params.get("code_challenge"), params.get("code_challenge_method"))
    if params.get("aud", "").rstrip("/") != services.settings.fhir_base:
        raise InvalidRequest(f"aud must be this server's FHIR base URL, {services.settings.fhir_base}.")
    return _offered_scope(services, client, params)


async def _params(request: Request) -> dict[str, str]:
    if request.method == "POST":
        form = await request.form()
        return {k: str(v) for k, v in form.items()}
    return dict(request.query_params)


@router.api_route("/auth/authorize", methods=["GET", "POST"])
async def authorize(request: Request) -> Response:
    services: Services = request.app.state.services
    params = await _params(request)
    client = await get_client(services.db, params.get("client_id"))
    if client is None:
        return _error_page(request, "This app is not registered with the practice.")
    redirect_uri = params.get("redirect_uri", "")
    if redirect_uri not in client.redirect_uris:
        return _error_page(request, "The app sent a return address that is not registered for it.")
    state = params.get("state")
    try:
        offered = _validate(services, client, params)
        account = await signin.current_account(request)
        if account is None:
            target = "/auth/authorize?" + urlencode(params)
            return RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)
        patients = await signin.accessible_patients(services.db, account)
        if params.get("launch"):
            if "launch" not in offered:
                raise InvalidScope("A launch parameter needs the 'launch' scope.")
            context = await launch.resolve(services, params["launch"])
            if context is None:
                raise InvalidRequest("The launch context is unknown or has expired.")
            creator = str(context.get("created_by", ""))
            if creator.startswith("account:") and creator != f"account:{account.id}":
                # A launch from the portal belongs to the person who pressed "Open".
                raise AccessDenied("This launch was started by someone else.")
            patients = [p for p in patients if p[0] == context["patient"]]
            if not patients:
                raise AccessDenied("The signed-in person may not open the launch's patient record.")
        if not patients:
            raise AccessDenied("The signed-in account has no patient record to share.")
    except OAuthError as exc:
        return _error_redirect(redirect_uri, exc, state)
    ticket = secrets.token_urlsafe(24)
    await services.db[AUTHORIZE_REQUESTS].insert_one({
        "_id": ticket, "account_id": account.id, "client_id": client.client_id, "redirect_uri": redirect_uri,
        "state": state, "code_challenge": params["code_challenge"], "nonce": params.get("nonce"),
        "scope": offered, "patients": [pid for pid, _ in patients], "expires_at": store.expires_in(TICKET_TTL)})
    choices = [{"scope": s, "text": describe(s)} for s in offered if s not in ALWAYS_GRANTED]
    identity = sorted({describe(s) for s in offered if s in ALWAYS_GRANTED and s not in ("launch",)})
    return _page(request, "smart/consent.html", app_name=client.name, choices=choices, identity=identity,
                 patients=patients, ticket=ticket)


@router.post("/auth/authorize/decision", dependencies=[Depends(csrf.verify)])
async def decide(request: Request) -> Response:
    services: Services = request.app.state.services
    form = await request.form()
    ticket = await take(services.db[AUTHORIZE_REQUESTS], str(form.get("ticket", "")))
    if ticket is None or ticket["expires_at"] <= store.now():
        return _error_page(request, "This request has expired. Please start again from the app.")
    account = await signin.current_account(request)
    if account is None or account.id != ticket["account_id"]:
        return _error_page(request, "This approval belongs to another sign-in.", status=403)
    redirect_uri, state = ticket["redirect_uri"], ticket["state"]
    if form.get("decision") != "allow":
        return _error_redirect(redirect_uri, AccessDenied("The user declined."), state)
    ticked = {str(v) for v in form.getlist("scope")}
    scope = [s for s in ticket["scope"] if s in ALWAYS_GRANTED or s in ticked]
    patient = str(form.get("patient") or ticket["patients"][0])
    if patient not in ticket["patients"]:
        return _error_page(request, "Choose one of the patients listed.")
    acting = await signin.acting_as(services.db, account, patient)
    if acting is None:
        return _error_redirect(redirect_uri, AccessDenied("You may not open this patient's record."), state)
    fhir_user, consent = acting
    authorization = Authorization(client_id=ticket["client_id"], sub=account.id, scope=" ".join(scope),
                                  patient=patient, fhir_user=fhir_user, consent=consent, nonce=ticket["nonce"],
                                  auth_time=int(store.now().timestamp()))
    code = await codes.create_code(services.db, redirect_uri=redirect_uri, code_challenge=ticket["code_challenge"],
                                   authorization=authorization)
    return _redirect(redirect_uri, {"code": code, "state": state})
