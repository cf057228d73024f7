"""/auth/authorize: validation, sign-in redirect, consent page, patient picker, launch.

Everyone signs in through the portal's real ``POST /login`` and approves with the consent
page's own CSRF token: what an app's user does, with the records they really may open.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from tests.smart.helpers import REDIRECT, add_client, exchange, pkce_pair
from tests.support.portal import JANE, SOPHIE, Person, add_delegate, registered_patient, sign_in


@pytest.fixture(scope="module")
def app_client(server):
    return add_client(server, "public")[0]


@pytest.fixture
def jane(server) -> Iterator[httpx.Client]:
    with sign_in(server, *JANE) as client:
        yield client


@pytest.fixture
def sophie(server) -> Iterator[httpx.Client]:
    with sign_in(server, *SOPHIE) as client:
        yield client


@pytest.fixture(scope="module")
def two_records(server, admin, smtp) -> tuple[Person, Person]:
    """(Uma, Vic): two patients with accounts, and Vic may also open Uma's record."""
    uma = registered_patient(server, admin, smtp, given="Uma", family="Picker", birth_date="1960-01-02")
    vic = registered_patient(server, admin, smtp, given="Vic", family="Picker", birth_date="1961-03-04")
    add_delegate(server, smtp, uma, vic)
    return uma, vic


def _params(server, client, **overrides):
    verifier, challenge = pkce_pair()
    params = {"response_type": "code", "client_id": client.client_id, "redirect_uri": REDIRECT,
              "scope": "openid fhirUser launch/patient patient/Observation.rs patient/Condition.rs",
              "state": "st-1", "aud": server.fhir, "code_challenge": challenge, "code_challenge_method": "S256",
              **overrides}
    return params, verifier


def _authorize(who: httpx.Client, params, method="GET"):
    if method == "POST":
        return who.post("/auth/authorize", data=params)
    return who.get("/auth/authorize", params=params)


def _field(page: str, name: str) -> str:
    return page.split(f'name="{name}" value="')[1].split('"')[0]


def _decide(who: httpx.Client, page, **form):
    data = {"ticket": _field(page, "ticket"), "csrf_token": _field(page, "csrf_token"), "decision": "allow", **form}
    return who.post("/auth/authorize/decision", data=data)


def _redirect_query(response):
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def test_consent_page_names_the_app_and_untick_narrows_the_grant(server, app_client, jane):
    params, verifier = _params(server, app_client)
    page = _authorize(jane, params, method="POST")
    assert page.status_code == 200 and "Test public app" in page.text
    assert "Read lab results and measurements" in page.text and "<label class=\"choice\">" in page.text
    query = _redirect_query(_decide(jane, page.text, scope=["patient/Observation.rs"], patient="jane-doe"))
    assert query["state"] == "st-1"
    body = exchange(server, app_client, query["code"], verifier).json()
    assert body["scope"] == "openid fhirUser launch/patient patient/Observation.rs"
    assert body["patient"] == "jane-doe"


def test_the_decision_needs_the_consent_pages_csrf_token(server, app_client, jane):
    """Another site cannot post an "Allow" for a signed-in person, even with a ticket it learnt."""
    page = _authorize(jane, _params(server, app_client)[0])
    ticket = _field(page.text, "ticket")
    for token in (None, "x" * 43):
        data = {"ticket": ticket, "decision": "allow", **({"csrf_token": token} if token else {})}
        refused = jane.post("/auth/authorize/decision", data=data)
        assert refused.status_code == 403 and "did not come from this site" in refused.text
        assert "location" not in refused.headers
    # The refusal used nothing up: the real page's form still works.
    assert "code" in _redirect_query(_decide(jane, page.text, scope=["patient/Observation.rs"]))


def test_decision_is_bound_to_the_signed_in_account(server, app_client, jane, sophie):
    page = _authorize(jane, _params(server, app_client)[0])
    data = {"ticket": _field(page.text, "ticket"), "csrf_token": sophie.cookies["carespace_csrf"],
            "decision": "allow", "scope": ["patient/Observation.rs"]}
    response = sophie.post("/auth/authorize/decision", data=data)
    assert response.status_code == 403 and "another sign-in" in response.text
    assert "location" not in response.headers


def test_delegate_picks_a_patient_and_acts_under_the_consent(server, app_client, admin, two_records):
    uma, vic = two_records
    with sign_in(server, *vic.credentials) as client:
        params, verifier = _params(server, app_client)
        page = _authorize(client, params)
        assert f'type="radio" name="patient" value="{uma.patient_id}"' in page.text
        assert f'type="radio" name="patient" value="{vic.patient_id}"' in page.text
        query = _redirect_query(_decide(client, page.text, scope=["patient/Observation.rs"],
                                        patient=uma.patient_id))
    body = exchange(server, app_client, query["code"], verifier).json()
    assert body["patient"] == uma.patient_id
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    consents = admin.get("/Consent", params={"patient": uma.patient_id, "status": "active"}).json()["entry"]
    [consent] = [e["resource"] for e in consents]
    actor = consent["provision"]["actor"][0]["reference"]["reference"]
    assert claims["fhirUser"] == actor and actor.startswith("RelatedPerson/")
    assert claims["consent"] == consent["id"]


def test_a_patient_not_in_the_list_is_refused(server, app_client, sophie):
    page = _authorize(sophie, _params(server, app_client)[0])
    assert 'type="radio"' not in page.text  # Sophie may open Jane's record only
    response = _decide(sophie, page.text, scope=["patient/Observation.rs"], patient="robert-chen")
    assert response.status_code == 400 and "Choose one of the patients listed" in response.text


def test_declining_returns_access_denied(server, app_client, jane):
    page = _authorize(jane, _params(server, app_client)[0])
    query = _redirect_query(_decide(jane, page.text, decision="deny"))
    assert query["error"] == "access_denied" and query["state"] == "st-1" and "code" not in query


def test_not_signed_in_goes_to_the_portal_sign_in(server, app_client):
    with httpx.Client(base_url=server.url, timeout=30) as anonymous:
        response = _authorize(anonymous, _params(server, app_client)[0])
    assert response.status_code == 303 and response.headers["location"].startswith("/login?next=%2Fauth%2Fauthorize")


@pytest.mark.parametrize(("change", "error"), [
    ({"code_challenge_method": "plain"}, "invalid_request"),
    ({"code_challenge": ""}, "invalid_request"),
    ({"aud": "https://elsewhere.example/fhir"}, "invalid_request"),
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"scope": "system/*.rs"}, "invalid_scope"),
])
def test_bad_requests_go_back_to_the_app_with_an_error(server, app_client, jane, change, error):
    query = _redirect_query(_authorize(jane, _params(server, app_client, **change)[0]))
    assert query["error"] == error and query["state"] == "st-1" and "code" not in query


def test_redirect_uri_off_by_one_character_gets_an_error_page_not_a_redirect(server, app_client, jane):
    response = _authorize(jane, _params(server, app_client, redirect_uri=REDIRECT + "/")[0])
    assert response.status_code == 400 and "location" not in response.headers
    assert "return address that is not registered" in response.text


def test_unknown_client_gets_an_error_page(server, app_client, jane):
    response = _authorize(jane, _params(server, app_client, client_id="nobody")[0])
    assert response.status_code == 400 and "not registered" in response.text


def test_ehr_launch_binds_the_patient(server, app_client, jane, sophie):
    created = httpx.post(f"{server.url}/auth/launch", json={"patient": "jane-doe"},
                         headers={"Authorization": f"Bearer {server.token('system/*.rs')}"})
    assert created.status_code == 200, created.text
    params, verifier = _params(server, app_client, launch=created.json()["launch"],
                               scope="launch openid fhirUser patient/Observation.rs")
    page = _authorize(sophie, params)
    # The launch fixes the patient: no picker, Jane's record named.
    assert 'name="patient" value="jane-doe"' in page.text and 'type="radio"' not in page.text
    body = exchange(server, app_client, _redirect_query(_decide(sophie, page.text,
                                                                scope=["patient/Observation.rs"]))["code"],
                    verifier).json()
    assert body["patient"] == "jane-doe"


def test_an_ehr_launch_for_a_record_the_user_may_not_open_is_refused(server, app_client, sophie):
    created = httpx.post(f"{server.url}/auth/launch", json={"patient": "robert-chen"},
                         headers={"Authorization": f"Bearer {server.token('system/*.rs')}"})
    params, _ = _params(server, app_client, launch=created.json()["launch"],
                        scope="launch openid fhirUser patient/Observation.rs")
    refused = _redirect_query(_authorize(sophie, params))
    assert refused["error"] == "access_denied" and "code" not in refused


def test_a_portal_launch_belongs_to_the_account_that_started_it(server, jane, sophie):
    from fhir_server.smart.clients import register_client
    from tests.smart.helpers import run

    app = run(server, lambda db: register_client(db, name="Launchable", kind="public", redirect_uris=[REDIRECT],
                                                 launch_url="https://app.example.org/launch"))[0]
    opened = jane.post(f"/apps/{app.client_id}/open", data={"csrf_token": jane.cookies["carespace_csrf"]})
    assert opened.status_code == 303, opened.text
    launch_id = parse_qs(urlsplit(opened.headers["location"]).query)["launch"][0]
    params, _ = _params(server, app, launch=launch_id, scope="launch openid fhirUser patient/Observation.rs")
    # Sophie may open Jane's record, but not through the launch Jane started.
    refused = _redirect_query(_authorize(sophie, params))
    assert refused["error"] == "access_denied"
    assert "someone else" in refused["error_description"]
    page = _authorize(jane, params)
    assert page.status_code == 200 and 'value="jane-doe"' in page.text
