"""Every state-changing portal route refuses a POST without its CSRF token, found by walking the
app's routes (a route added tomorrow that forgets the check fails here); the bearer-token APIs
answer CORS preflights, and portal pages send no CORS headers at all."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import RunningServer
from tests.support.portal import JANE, sign_in
from tests.support.routes import app_routes

STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}

# Routes that change state without the portal's CSRF token, each for a reason that holds:
EXEMPT = {
    # OAuth endpoints (RFC 6749/7009/7662): the caller proves itself with client credentials,
    # a code, a refresh token or a bearer token in the request; no cookie is read, so another
    # site has nothing to borrow. Browser apps call them cross-origin by design (CORS below).
    "/auth/token": "client credentials or a code in the body",
    "/auth/revoke": "the token itself is the credential",
    "/auth/introspect": "a bearer token of a back-end client",
    # SMART "authorize-post": apps post the authorization request from their own origin by design.
    # It only shows the consent page (and parks a ticket); the decision that follows is CSRF-checked.
    "/auth/authorize": "the app's request, answered with the consent page only",
    # An EHR posts with a system bearer token. With a portal session the answer (a launch id) is
    # JSON no other origin can read (no CORS here), and the launch is bound to the account
    # that made it, so a forged POST gains the other site nothing.
    "/auth/launch": "bearer token, or an unreadable answer bound to the session's account",
    # SMART Health Links: any viewer on any origin posts the passcode; no cookie is involved.
    "/shl/manifest/{manifest_id}": "passcode in the body, cross-origin by specification",
}


def state_changing_routes() -> list[tuple[str, str]]:
    """(method, path) of every state-changing route outside the FHIR API."""
    return [(method, path) for methods, path in app_routes() if not path.startswith("/fhir")
            for method in sorted(methods & STATE_CHANGING)]


ROUTES = state_changing_routes()
CHECKED = [(m, p) for m, p in ROUTES if p not in EXEMPT]


def test_the_route_list_is_real_and_every_exemption_still_exists() -> None:
    paths = {p for _, p in ROUTES}
    assert len(CHECKED) >= 17, CHECKED
    assert set(EXEMPT) <= paths, f"stale exemptions: {set(EXEMPT) - paths}"


@pytest.fixture(scope="module")
def jane(server: RunningServer) -> Iterator[httpx.Client]:
    with sign_in(server, *JANE) as client:
        yield client


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "no-such-id", path)


@pytest.mark.parametrize(("method", "path"), CHECKED, ids=[f"{m} {p}" for m, p in CHECKED])
def test_a_portal_post_without_its_csrf_token_is_refused(jane: httpx.Client, method: str, path: str) -> None:
    """Signed in (so that nothing else refuses first), with the CSRF cookie but no field, then a wrong one."""
    assert jane.cookies.get("carespace_csrf")
    for form in ({}, {"csrf_token": "x" * 43}):
        response = jane.request(method, _concrete(path), data=form)
        assert response.status_code == 403, f"{method} {path} answered {response.status_code}"
        assert "did not come from this site" in response.text
    # Still signed in: no refused POST ended the session (e.g. /logout) or changed anything.
    assert jane.get("/health").status_code == 200


# -- CORS ---------------------------------------------------------------------------------------

ORIGIN = "https://app.example.org"
API_PATHS = ["/fhir/Patient", "/fhir/metadata", "/auth/token", "/auth/revoke", "/auth/introspect",
             "/.well-known/smart-configuration", "/fhir/.well-known/smart-configuration",
             "/.well-known/openid-configuration", "/auth/jwks"]


@pytest.mark.parametrize("path", API_PATHS)
def test_the_apis_answer_a_cors_preflight(server: RunningServer, path: str) -> None:
    response = httpx.options(f"{server.url}{path}", timeout=30, headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    assert response.status_code == 204, response.text
    assert response.headers["access-control-allow-origin"] == "*"
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed
    # "*" with credentials is forbidden by browsers, and these APIs use no cookies.
    assert "access-control-allow-credentials" not in response.headers


def test_api_answers_carry_cors_headers_and_expose_location(server: RunningServer) -> None:
    token = server.token("system/Patient.cruds")
    created = httpx.post(f"{server.fhir}/Patient", json={"resourceType": "Patient"}, timeout=30,
                         headers={"Origin": ORIGIN, "Authorization": f"Bearer {token}"})
    assert created.status_code == 201
    assert created.headers["access-control-allow-origin"] == "*"
    exposed = created.headers["access-control-expose-headers"]
    assert "Location" in exposed and "ETag" in exposed
    refused = httpx.post(f"{server.url}/auth/token", data={"grant_type": "password"}, headers={"Origin": ORIGIN})
    assert refused.status_code in (400, 401) and refused.headers["access-control-allow-origin"] == "*"
    discovery = httpx.get(f"{server.url}/.well-known/smart-configuration", headers={"Origin": ORIGIN})
    assert discovery.headers["access-control-allow-origin"] == "*"


def portal_pages() -> list[str]:
    return sorted({path for methods, path in app_routes() if "GET" in methods and "{" not in path
                   and not path.startswith(("/fhir", "/auth/jwks", "/.well-known", "/shl/"))})


def test_portal_pages_send_no_cors_headers(server: RunningServer, jane: httpx.Client) -> None:
    pages = portal_pages()
    assert {"/login", "/health", "/messages", "/users", "/auth/authorize"} <= set(pages), pages
    for path in pages:
        response = jane.get(path, headers={"Origin": ORIGIN})
        assert not [h for h in response.headers if h.lower().startswith("access-control-")], path
    for path in ("/login", "/users/invite", "/auth/authorize/decision", "/send-record"):
        preflight = httpx.options(f"{server.url}{path}", timeout=30, headers={
            "Origin": ORIGIN, "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in preflight.headers, path
