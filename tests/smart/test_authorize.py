"""/auth/authorize: validation, sign-in redirect, consent page, patient picker, launch.

The portal's sign-in is replaced by a header-driven stand-in (the server runs in this
process), so the flow is tested before the portal lands; ``test_portal_*`` tests run once it has.
"""

from __future__ import annotations

from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from fhir_server.smart import signin
from tests.smart.helpers import REDIRECT, add_client, exchange, pkce_pair

ACCOUNTS = {
    "jane": (SimpleNamespace(id="acct-jane", email="jane.doe@example.org", patient_id="jane-doe",
                             related_persons=[]),
             [("jane-doe", "Jane Doe")]),
    # Two patients to pick from; only Jane's grant rests on a real, active Consent.
    "sophie": (SimpleNamespace(id="acct-sophie", email="sophie.doe@example.org", patient_id=None,
                               related_persons=[{"patient": "jane-doe", "related_person": "sophie-doe",
                                                 "consent": "jane-doe-consent-sophie-doe"}]),
               [("jane-doe", "Jane Doe"), ("robert-chen", "Robert Chen")]),
}


@pytest.fixture(autouse=True)
def signed_in(monkeypatch):
    async def current_account(request):
        entry = ACCOUNTS.get(request.headers.get("x-test-account", ""))
        return entry[0] if entry else None

    async def accessible_patients(db, account):
        return next(p for a, p in ACCOUNTS.values() if a is account)

    monkeypatch.setattr(signin, "current_account", current_account)
    monkeypatch.setattr(signin, "accessible_patients", accessible_patients)


@pytest.fixture(scope="module")
def app_client(server):
    return add_client(server, "public")[0]


def _params(server, client, **overrides):
    verifier, challenge = pkce_pair()
    params = {"response_type": "code", "client_id": client.client_id, "redirect_uri": REDIRECT,
              "scope": "openid fhirUser launch/patient patient/Observation.rs patient/Condition.rs",
              "state": "st-1", "aud": server.fhir, "code_challenge": challenge, "code_challenge_method": "S256",
              **overrides}
    return params, verifier


def _authorize(server, params, account="jane", method="GET"):
    headers = {"x-test-account": account} if account else {}
    if method == "POST":
        return httpx.post(f"{server.url}/auth/authorize", data=params, headers=headers)
    return httpx.get(f"{server.url}/auth/authorize", params=params, headers=headers)


def _ticket(page: str) -> str:
    return page.split('name="ticket" value="')[1].split('"')[0]


def _decide(server, page, account="jane", **form):
    data = {"ticket": _ticket(page), "decision": "allow", **form}
    return httpx.post(f"{server.url}/auth/authorize/decision", data=data, headers={"x-test-account": account})


def _redirect_query(response):
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def test_consent_page_names_the_app_and_untick_narrows_the_grant(server, app_client):
    params, verifier = _params(server, app_client)
    page = _authorize(server, params, method="POST")
    assert page.status_code == 200 and "Test public app" in page.text
    assert "Read lab results and measurements" in page.text and "<label class=\"choice\">" in page.text
    query = _redirect_query(_decide(server, page.text, scope=["patient/Observation.rs"], patient="jane-doe"))
    assert query["state"] == "st-1"
    body = exchange(server, app_client, query["code"], verifier).json()
    assert body["scope"] == "openid fhirUser launch/patient patient/Observation.rs"
    assert body["patient"] == "jane-doe"


def test_decision_is_bound_to_the_signed_in_account(server, app_client):
    page = _authorize(server, _params(server, app_client)[0])
    response = _decide(server, page.text, account="sophie", scope=["patient/Observation.rs"])
    assert response.status_code == 403 and "code=" not in response.headers.get("location", "")


def test_delegate_picks_a_patient_and_acts_under_the_consent(server, app_client):
    params, verifier = _params(server, app_client)
    page = _authorize(server, params, account="sophie")
    assert 'type="radio" name="patient" value="robert-chen"' in page.text
    query = _redirect_query(_decide(server, page.text, account="sophie", scope=["patient/Observation.rs"],
                                    patient="jane-doe"))
    body = exchange(server, app_client, query["code"], verifier).json()
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["fhirUser"] == "RelatedPerson/sophie-doe" and claims["consent"] == "jane-doe-consent-sophie-doe"


def test_declining_returns_access_denied(server, app_client):
    page = _authorize(server, _params(server, app_client)[0])
    query = _redirect_query(_decide(server, page.text, decision="deny"))
    assert query["error"] == "access_denied" and query["state"] == "st-1"


def test_not_signed_in_goes_to_the_portal_sign_in(server, app_client):
    response = _authorize(server, _params(server, app_client)[0], account=None)
    assert response.status_code == 303 and response.headers["location"].startswith("/login?next=%2Fauth%2Fauthorize")


@pytest.mark.parametrize(("change", "error"), [
    ({"code_challenge_method": "plain"}, "invalid_request"),
    ({"code_challenge": ""}, "invalid_request"),
    ({"aud": "https://elsewhere.example/fhir"}, "invalid_request"),
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"scope": "system/*.rs"}, "invalid_scope"),
])
def test_bad_requests_go_back_to_the_app_with_an_error(server, app_client, change, error):
    query = _redirect_query(_authorize(server, _params(server, app_client, **change)[0]))
    assert query["error"] == error and query["state"] == "st-1" and "code" not in query


def test_redirect_uri_off_by_one_character_gets_an_error_page_not_a_redirect(server, app_client):
    response = _authorize(server, _params(server, app_client, redirect_uri=REDIRECT + "/")[0])
    assert response.status_code == 400 and "location" not in response.headers


def test_unknown_client_gets_an_error_page(server, app_client):
    response = _authorize(server, _params(server, app_client, client_id="nobody")[0])
    assert response.status_code == 400 and "not registered" in response.text


def test_ehr_launch_binds_the_patient(server, app_client):
    created = httpx.post(f"{server.url}/auth/launch", json={"patient": "robert-chen"},
                         headers={"Authorization": f"Bearer {server.token('system/*.rs')}"})
    assert created.status_code == 200, created.text
    params, verifier = _params(server, app_client, launch=created.json()["launch"],
                               scope="launch openid fhirUser patient/Observation.rs")
    page = _authorize(server, params, account="sophie")
    assert 'value="robert-chen"' in page.text and 'type="radio"' not in page.text
    # sophie is not Robert's delegate in the data: the code is refused at approval
    query = _redirect_query(_decide(server, page.text, account="sophie", scope=["patient/Observation.rs"]))
    assert query["error"] == "access_denied"
    refused = _redirect_query(_authorize(server, params, account="jane"))
    assert refused["error"] == "access_denied"
    assert verifier


def test_a_portal_launch_belongs_to_the_account_that_started_it(server, app_client):
    from fhir_server.smart import launch
    from tests.smart.helpers import run

    async def start(db):
        services = SimpleNamespace(db=db)
        return await launch.create_launch(services, "jane-doe", "account:acct-jane")

    launch_id = run(server, start)
    params, _ = _params(server, app_client, launch=launch_id, scope="launch openid fhirUser patient/Observation.rs")
    # Sophie may open Jane's record, but not through the launch Jane started.
    refused = _redirect_query(_authorize(server, params, account="sophie"))
    assert refused["error"] == "access_denied"
    assert "someone else" in refused["error_description"]
    page = _authorize(server, params, account="jane")
    assert page.status_code == 200 and 'value="jane-doe"' in page.text
