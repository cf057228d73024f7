"""The Apps page: open a SMART app from the portal (EHR launch), see it under Connected apps,
disconnect it (its refresh token and access tokens stop working at once); a delegate's launch."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import pytest
from playwright.sync_api import BrowserContext, Page, Route, expect

from fhir_server.portal.apps.routes import launch_address
from fhir_server.smart.clients import Client, ClientError, register_client
from tests.portal.conftest import shot, sign_in
from tests.smart.helpers import REDIRECT, exchange, fhir_get, pkce_pair, run, token_request
from tests.support.portal import csrf_of

LAUNCH_URL = "https://app.example.org/launch"
JANE = ("jane.doe@example.org", "Jane-Demo-2026!", "1968-04-12")
SOPHIE = ("sophie.doe@example.org", "Sophie-Demo-2026!", "1994-02-17")


def add_app(server: Any, name: str, description: str | None = None) -> Client:
    """A public app that can be opened from the portal; unique names keep tests apart."""
    return run(server, lambda db: register_client(db, name=name, kind="public", redirect_uris=[REDIRECT],
                                                  launch_url=LAUNCH_URL, description=description))[0]


def catch_app(context: BrowserContext) -> list[str]:
    """Stand in for the app: every request to app.example.org is answered here and recorded."""
    landed: list[str] = []

    def fulfil(route: Route) -> None:
        landed.append(route.request.url)
        route.fulfill(status=200, body="the app", content_type="text/plain")

    context.route("https://app.example.org/**", fulfil)
    return landed


def open_from_portal(page: Page, landed: list[str], app: Client) -> dict[str, str]:
    """Click "Open" on /apps; the browser lands on the app's launch URL with iss and launch."""
    page.goto("/apps")
    page.get_by_role("button", name=f"Open {app.name}").click()
    page.wait_for_url(f"{LAUNCH_URL}**")
    url = urlsplit(landed[-1])
    assert f"{url.scheme}://{url.netloc}{url.path}" == LAUNCH_URL
    return {k: v[0] for k, v in parse_qs(url.query).items()}


def authorize_with_launch(page: Page, landed: list[str], server: Any, app: Client, launch: str, scope: str,
                          name: str) -> dict[str, Any]:
    """What the app does next: /auth/authorize with ``launch``, consent Allow, code for tokens."""
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(8)
    params = {"response_type": "code", "client_id": app.client_id, "redirect_uri": REDIRECT, "scope": scope,
              "state": state, "aud": server.fhir, "launch": launch, "code_challenge": challenge,
              "code_challenge_method": "S256"}
    page.goto(f"{server.url}/auth/authorize?{urlencode(params)}")
    expect(page.get_by_role("heading", name=re.compile(app.name))).to_be_visible()
    shot(page, name)
    page.get_by_role("button", name="Allow", exact=True).click()
    page.wait_for_url(f"{REDIRECT}**")
    query = parse_qs(urlsplit(landed[-1]).query)
    assert query["state"] == [state], query
    response = exchange(server, app, query["code"][0], verifier)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def connected_row(page: Page, app: Client) -> Any:
    return page.locator(f'li.app.connected[data-client="{app.client_id}"]')


def test_jane_opens_an_app_connects_it_and_disconnects_it(context: BrowserContext, page: Page, server: Any) -> None:
    about = "Track your symptoms and share them with your care team."
    app = add_app(server, f"CareTrack {uuid.uuid4().hex[:4]}", about)
    landed = catch_app(context)
    sign_in(page, *JANE)
    page.goto("/apps")
    expect(page.get_by_role("heading", name="Apps you can open")).to_be_visible()
    expect(page.get_by_text(about).first).to_be_visible()
    shot(page, "apps-index")

    launched = open_from_portal(page, landed, app)
    assert launched["iss"] == server.fhir
    assert launched["launch"]
    body = authorize_with_launch(page, landed, server, app, launched["launch"],
                                 "launch openid fhirUser offline_access patient/*.rs", "apps-consent")
    assert body["patient"] == "jane-doe"
    assert body["refresh_token"]
    assert fhir_get(server, body["access_token"], "Patient/jane-doe").status_code == 200

    page.goto("/apps")
    row = connected_row(page, app)
    expect(row).to_contain_text(app.name)
    expect(row).to_contain_text("Connected since")
    row.get_by_text("What it may do").click()
    expect(row).to_contain_text("Read all health records")
    expect(row).to_contain_text("Keep access when you are not using it")
    shot(page, "apps-connected")

    row.get_by_role("link", name=f"Disconnect {app.name}").click()
    expect(page.get_by_role("heading", name=f"Disconnect {app.name}?")).to_be_visible()
    shot(page, "apps-disconnect")
    page.get_by_role("button", name="Disconnect").click()
    expect(page.get_by_role("status")).to_contain_text(f"{app.name} is disconnected")
    expect(connected_row(page, app)).to_have_count(0)
    shot(page, "apps-disconnected")

    refreshed = token_request(server, {"grant_type": "refresh_token", "refresh_token": body["refresh_token"],
                                       "client_id": app.client_id})
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant", refreshed.text
    assert fhir_get(server, body["access_token"], "Patient/jane-doe").status_code == 401


def test_a_refreshed_connection_is_listed_once_with_when_it_was_last_used(context: BrowserContext, page: Page,
                                                                          server: Any) -> None:
    app = add_app(server, f"Refresher {uuid.uuid4().hex[:4]}")
    landed = catch_app(context)
    sign_in(page, *JANE)
    launched = open_from_portal(page, landed, app)
    body = authorize_with_launch(page, landed, server, app, launched["launch"],
                                 "launch online_access patient/Observation.rs", "apps-consent-online")
    refreshed = token_request(server, {"grant_type": "refresh_token", "refresh_token": body["refresh_token"],
                                       "client_id": app.client_id})
    assert refreshed.status_code == 200, refreshed.text
    page.goto("/apps")
    row = connected_row(page, app)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Last used")
    row.get_by_role("link", name=f"Disconnect {app.name}").click()
    page.get_by_role("button", name="Disconnect").click()
    again = token_request(server, {"grant_type": "refresh_token", "refresh_token": refreshed.json()["refresh_token"],
                                   "client_id": app.client_id})
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    old_access = refreshed.json()["access_token"]
    assert fhir_get(server, old_access, "Observation?patient=jane-doe&_count=1").status_code == 401


def test_a_delegate_opens_an_app_with_the_patients_record(browser: Any, context: BrowserContext, page: Page,
                                                          server: Any) -> None:
    app = add_app(server, f"Family Helper {uuid.uuid4().hex[:4]}")
    landed = catch_app(context)
    sign_in(page, *SOPHIE)
    page.goto("/apps")
    expect(page.locator(".viewing-banner")).to_contain_text("Jane Doe")
    launched = open_from_portal(page, landed, app)
    assert launched["iss"] == server.fhir
    body = authorize_with_launch(page, landed, server, app, launched["launch"],
                                 "launch openid fhirUser offline_access patient/*.rs", "apps-consent-delegate")
    assert body["patient"] == "jane-doe"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["fhirUser"] == "RelatedPerson/sophie-doe"
    assert fhir_get(server, body["access_token"], "Patient/jane-doe").status_code == 200
    page.goto("/apps")
    expect(connected_row(page, app)).to_contain_text(app.name)
    shot(page, "apps-delegate")

    # Jane does not see (or disconnect) the app Sophie connected: each person manages their own.
    jane = browser.new_context(base_url=server.url)
    try:
        jane_page = jane.new_page()
        sign_in(jane_page, *JANE)
        jane_page.goto("/apps")
        expect(connected_row(jane_page, app)).to_have_count(0)
        assert jane_page.goto(f"/apps/connected/{app.client_id}/disconnect").status == 404  # type: ignore[union-attr]
    finally:
        jane.close()
    connected_row(page, app).get_by_role("link", name=f"Disconnect {app.name}").click()
    page.get_by_role("button", name="Disconnect").click()
    assert fhir_get(server, body["access_token"], "Patient/jane-doe").status_code == 401


# -- HTTP: the door, CSRF, errors -----------------------------------------------------------

@pytest.fixture
def jane_http(server: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        signed = client.post("/login", data={"email": JANE[0], "password": JANE[1], "birth_date": JANE[2],
                                             "csrf_token": csrf_of(client, "/login")})
        assert signed.status_code == 303
        yield client


def test_apps_needs_a_sign_in(server: Any) -> None:
    response = httpx.get(f"{server.url}/apps", timeout=30)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


def test_open_needs_the_csrf_token_and_an_openable_app(server: Any, jane_http: httpx.Client, db: Any) -> None:
    app = add_app(server, f"Guarded {uuid.uuid4().hex[:4]}")
    assert jane_http.post(f"/apps/{app.client_id}/open").status_code == 403
    token = csrf_of(jane_http, "/apps")
    opened = jane_http.post(f"/apps/{app.client_id}/open", data={"csrf_token": token})
    assert opened.status_code == 303
    launch = parse_qs(urlsplit(opened.headers["location"]).query)["launch"][0]
    context = db["launch_contexts"].find_one({"_id": launch})
    assert context["patient"] == "jane-doe" and context["created_by"].startswith("account:")
    audited = db["AuditEvent"].find_one({"res.outcomeDesc": {"$regex": f"^Opened the app {app.name}"}})
    assert audited and {"reference": "Patient/jane-doe"} in [e["what"] for e in audited["res"]["entity"]]
    unknown = jane_http.post("/apps/no-such-app/open", data={"csrf_token": token})
    assert unknown.status_code == 404 and "cannot be opened from the portal" in unknown.text
    missing = jane_http.post("/apps/connected/no-such-app/disconnect", data={"csrf_token": token})
    assert missing.status_code == 404 and "not connected to this record" in missing.text


def test_names_and_descriptions_are_escaped(server: Any, jane_http: httpx.Client) -> None:
    add_app(server, f"<script>alert(1)</script> {uuid.uuid4().hex[:4]}", "<b>bold</b> claims")
    html = jane_http.get("/apps").text
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<b>bold</b>" not in html


def test_launch_urls_are_checked_at_registration(server: Any) -> None:
    with pytest.raises(ClientError, match="launch URL"):
        run(server, lambda db: register_client(db, name="x", kind="public", redirect_uris=[REDIRECT],
                                               launch_url="app.example.org/launch"))
    with pytest.raises(ClientError, match="back-end"):
        run(server, lambda db: register_client(db, name="x", kind="backend", jwks={"keys": []},
                                               launch_url=LAUNCH_URL))


def test_the_launch_address_keeps_the_apps_own_query() -> None:
    client = Client(client_id="c", name="n", kind="public", launch_url="https://a.example/l?tenant=7")
    assert launch_address(client, "https://x/fhir", "L") == "https://a.example/l?tenant=7&iss=https%3A%2F%2Fx%2Ffhir&launch=L"


def test_an_app_added_with_a_launch_url_on_the_command_line_can_be_opened(server: Any,
                                                                          jane_http: httpx.Client) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGODB_URI", "CARESPACE_"))}
    env |= {"MONGODB_URI": server.mongo_uri, "CARESPACE_DB_NAME": server.settings.database_name}
    name = f"Symptom Diary {uuid.uuid4().hex[:4]}"
    added = subprocess.run([sys.executable, "-m", "fhir_server.cli", "clients", "add", "--name", name, "--public",
                            "--redirect-uri", REDIRECT, "--launch-url", LAUNCH_URL, "--description", "Daily notes"],
                           env=env, capture_output=True, text=True, timeout=120)
    assert added.returncode == 0, added.stderr
    client = json.loads(added.stdout)
    assert client["launch_url"] == LAUNCH_URL and client["description"] == "Daily notes"
    listed = subprocess.run([sys.executable, "-m", "fhir_server.cli", "clients", "list"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert any(c["client_id"] == client["client_id"] and c["launch_url"] == LAUNCH_URL
               for c in json.loads(listed.stdout))
    assert f'data-client="{client["client_id"]}"' in jane_http.get("/apps").text
