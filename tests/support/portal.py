"""The portal as a person uses it, over plain HTTP (no browser): CSRF tokens, signing in, and
a factory that registers accounts the way people do (invite mail, link, password form).

The browser tests use the same steps through Playwright; these are for tests that need a
signed-in person quickly, and for checks a browser would not let a page make.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from playwright.sync_api import BrowserContext, Page

from fhir_server import two_step
from tests.mailbox import Mailbox
from tests.support.mail import link_in

CSRF_COOKIE = "carespace_csrf"
FHIR_JSON = {"Content-Type": "application/fhir+json"}
PASSWORD = "Quiet-Harbour-77"
JANE = ("jane.doe@example.org", "Jane-Demo-2026!", "1968-04-12")
ROBERT = ("robert.chen@example.org", "Robert-Demo-2026!", "1957-09-30")
SOPHIE = ("sophie.doe@example.org", "Sophie-Demo-2026!", "1994-02-17")


def csrf_of(client: httpx.Client, path: str = "/login") -> str:
    """The CSRF token of the form on ``path``, as the page gives it to this client."""
    response = client.get(path)
    match = re.search(r'name="csrf_token" value="([^"]+)"', response.text)
    assert match, f"no CSRF field on {path} ({response.status_code})"
    return match.group(1)


def csrf_of_browser(context: BrowserContext) -> str:
    return next(c["value"] for c in context.cookies() if c["name"] == CSRF_COOKIE)


def csrf_post(page: Page, path: str, data: dict[str, str]) -> int:
    """A form POST from this browser (its own CSRF token), as a hand-made request; its status."""
    return page.request.post(path, form={"csrf_token": csrf_of_browser(page.context), **data},
                             max_redirects=0).status


def portal_client(server: Any, context: BrowserContext) -> tuple[httpx.Client, str]:
    """An HTTP client with the browser's session and CSRF cookies, and the CSRF token to post."""
    cookies = {c["name"]: c["value"] for c in context.cookies()}
    client = httpx.Client(base_url=server.url, cookies=cookies, timeout=30, follow_redirects=False)
    return client, cookies[CSRF_COOKIE]


@contextmanager
def sign_in(server: Any, email: str, password: str, birth_date: str) -> Iterator[httpx.Client]:
    """A client signed in through ``POST /login``, for a ``with`` block."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        response = client.post("/login", data={"email": email, "password": password, "birth_date": birth_date,
                                               "csrf_token": csrf_of(client)})
        assert response.status_code == 303 and response.headers["location"] == "/health", response.text
        yield client


def form_post(client: httpx.Client, path: str, data: dict[str, Any] | None = None) -> httpx.Response:
    """A portal form POST with this client's CSRF token."""
    token = client.cookies.get(CSRF_COOKIE) or csrf_of(client)
    return client.post(path, data={"csrf_token": token, **(data or {})})


@dataclass
class Person:
    patient_id: str
    email: str
    birth_date: str
    name: str
    password: str = PASSWORD

    @property
    def credentials(self) -> tuple[str, str, str]:
        return self.email, self.password, self.birth_date


def unique_email(name: str) -> str:
    return f"{name.lower()}.{uuid.uuid4().hex[:8]}@example.net"


def new_patient(admin: httpx.Client, *, given: str = "Ada", family: str = "Testperson",
                birth_date: str = "1971-05-06") -> Person:
    """A Patient with no portal account yet (and a unique email for their invite)."""
    response = admin.post("/Patient", headers=FHIR_JSON, json={
        "resourceType": "Patient", "name": [{"given": [given], "family": family}], "birthDate": birth_date})
    assert response.status_code == 201, response.text
    return Person(patient_id=response.json()["id"], email=unique_email(given), birth_date=birth_date,
                  name=f"{given} {family}")


def invite(server: Any, person: Person, *, email: str | None = None) -> httpx.Response:
    """``POST /fhir/Patient/{id}/$invite`` with a practice administration token."""
    token = server.token("system/Patient.cruds")
    return httpx.post(f"{server.fhir}/Patient/{person.patient_id}/$invite", timeout=30,
                      headers={"Authorization": f"Bearer {token}", **FHIR_JSON},
                      json={"resourceType": "Parameters",
                            "parameter": [{"name": "email", "valueString": email or person.email}]})


def complete_registration(server: Any, link: str, password: str = PASSWORD) -> None:
    """Open the mailed link and set a password, as the registration page does."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        opened = client.get(link, follow_redirects=True)  # the token becomes a flow cookie, then the form
        assert opened.status_code == 200 and str(opened.url).endswith("/register"), opened.text
        done = form_post(client, "/register", {"password": password, "password_confirm": password})
        assert done.status_code == 303 and done.headers["location"] == "/health?notice=registered", done.text


def registered_patient(server: Any, admin: httpx.Client, smtp: Mailbox, *, given: str = "Ada",
                       family: str = "Testperson", birth_date: str = "1971-05-06") -> Person:
    """A new Patient with a portal account, made the way people make one: the practice's
    invite, the mail, the link, the password form."""
    person = new_patient(admin, given=given, family=family, birth_date=birth_date)
    assert invite(server, person).status_code == 200
    complete_registration(server, link_in(smtp.wait_for(person.email, "Complete your registration"), "/register"),
                          person.password)
    return person


def add_delegate(server: Any, smtp: Mailbox, patient: Person, delegate: Person, relationship: str = "FRND") -> None:
    """``patient`` invites ``delegate`` (who has an account already) from Manage users, and the
    delegate accepts into that account: afterwards the delegate may open both records."""
    with sign_in(server, *patient.credentials) as owner:
        sent = form_post(owner, "/users/invite", {"email": delegate.email, "birth_date": delegate.birth_date,
                                                  "name": delegate.name, "relationship": relationship})
        assert sent.status_code == 303, sent.text
    link = link_in(smtp.wait_for(delegate.email, "has invited you"), "/register")
    with sign_in(server, *delegate.credentials) as guest:
        opened = guest.get(link)
        assert opened.status_code == 303 and opened.headers["location"] == "/register", opened.text
        assert guest.get("/register").headers.get("location") == "/register/accept"
        accepted = form_post(guest, "/register/accept")
        assert accepted.status_code == 303 and accepted.headers["location"] == "/health", accepted.text


def enrol(client: httpx.Client) -> str:
    """Turn two-step on over HTTP, as the settings pages do; the secret."""
    assert form_post(client, "/settings/two-step/start").status_code == 303
    match = re.search(r'data-testid="secret">([A-Z2-7 ]+)<', client.get("/settings/two-step").text)
    assert match
    secret = match.group(1).replace(" ", "")
    done = form_post(client, "/settings/two-step", {"code": two_step.current_code(secret)})
    assert done.status_code == 200 and "Your recovery codes" in done.text
    return secret
