"""Refresh rotation, reuse detection, no escalation; introspection (RFC 7662); revocation (RFC 7009)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pymongo import MongoClient

from fhir_server.smart.store import REFRESH_TOKENS, REVOKED_CHAINS, digest
from tests.smart.helpers import add_client, assert_oauth_error, exchange, fhir_get, make_code, token_request
from tests.support.portal import add_delegate, registered_patient

SCOPE = "launch/patient offline_access patient/Patient.rs patient/Observation.rs"


@pytest.fixture(scope="module")
def app_client(server):
    return add_client(server, "public")[0]


def _tokens(server, client, scope=SCOPE, **kwargs):
    code, verifier = make_code(server, client, scope, **kwargs)
    response = exchange(server, client, code, verifier)
    assert response.status_code == 200, response.text
    return response.json()


def _refresh(server, client, refresh_token, **extra):
    return token_request(server, {"grant_type": "refresh_token", "refresh_token": refresh_token,
                                  "client_id": client.client_id, **extra})


def test_refresh_rotates_and_reuse_revokes_the_chain(server, app_client):
    first = _tokens(server, app_client)
    second = _refresh(server, app_client, first["refresh_token"])
    assert second.status_code == 200, second.text
    second = second.json()
    assert second["refresh_token"] != first["refresh_token"] and second["scope"] == SCOPE
    assert fhir_get(server, second["access_token"], "Patient/jane-doe").status_code == 200
    assert_oauth_error(_refresh(server, app_client, first["refresh_token"]), "invalid_grant")
    assert_oauth_error(_refresh(server, app_client, second["refresh_token"]), "invalid_grant")
    for issued in (first, second):  # every access token the chain gave out, in one revocation
        assert fhir_get(server, issued["access_token"], "Patient/jane-doe").status_code == 401


def test_a_revoked_chains_mark_lapses_once_its_tokens_could_not_be_used(server, app_client):
    """The mark that stops a racing rotation is kept as long as the chain's longest-lived token
    could be (90 days, offline access), and swept after: the collection does not grow forever."""
    first = _tokens(server, app_client)
    second = _refresh(server, app_client, first["refresh_token"]).json()
    assert_oauth_error(_refresh(server, app_client, first["refresh_token"]), "invalid_grant")  # reuse
    assert_oauth_error(_refresh(server, app_client, second["refresh_token"]), "invalid_grant")
    with MongoClient(server.mongo_uri, tz_aware=True) as client:
        db = client[server.settings.database_name]
        token = db[REFRESH_TOKENS].find_one({"_id": digest(second["refresh_token"])})
        mark = db[REVOKED_CHAINS].find_one({"_id": token["chain"]})
        assert token["revoked"] and mark is not None
        assert timedelta(days=89) < mark["expires_at"] - datetime.now(UTC) <= timedelta(days=90)
        ttl = [ix["key"] for ix in db[REVOKED_CHAINS].index_information().values() if "expireAfterSeconds" in ix]
        assert ttl == [[("expires_at", 1)]]
        db[REVOKED_CHAINS].update_one({"_id": mark["_id"]},
                                      {"$set": {"expires_at": datetime.now(UTC) - timedelta(seconds=1)}})
        client.admin.command("secantusAdmin.pruneTtl")  # the sweep the database runs every minute
        assert db[REVOKED_CHAINS].find_one({"_id": mark["_id"]}) is None


def test_refresh_may_narrow_but_not_widen_the_scope(server, app_client):
    tokens = _tokens(server, app_client)
    assert_oauth_error(_refresh(server, app_client, tokens["refresh_token"], scope="patient/*.cruds"),
                       "invalid_scope")
    narrowed = _refresh(server, app_client, tokens["refresh_token"], scope="patient/Observation.rs")
    assert narrowed.status_code == 200 and narrowed.json()["scope"] == "patient/Observation.rs"


def test_refresh_by_another_client_is_refused(server, app_client):
    other = add_client(server, "public")[0]
    tokens = _tokens(server, app_client)
    assert_oauth_error(_refresh(server, other, tokens["refresh_token"]), "invalid_grant")


def _introspect(server, token):
    admin = server.token("system/*.rs")
    return httpx.post(f"{server.url}/auth/introspect", data={"token": token},
                      headers={"Authorization": f"Bearer {admin}"}).json()


def test_introspection_needs_authorization(server, app_client):
    tokens = _tokens(server, app_client)
    response = httpx.post(f"{server.url}/auth/introspect", data={"token": tokens["access_token"]})
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    patient_token = httpx.post(f"{server.url}/auth/introspect", data={"token": tokens["access_token"]},
                               headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert patient_token.status_code == 401 and patient_token.json()["error"] == "invalid_token"


def test_revoked_access_token_is_inactive_and_refused_at_fhir(server, app_client):
    tokens = _tokens(server, app_client)
    info = _introspect(server, tokens["access_token"])
    assert info["active"] is True and info["patient"] == "jane-doe" and info["client_id"] == app_client.client_id
    assert info["scope"] == SCOPE and info["fhirUser"] == "Patient/jane-doe" and info["exp"] > 0
    revoked = httpx.post(f"{server.url}/auth/revoke", data={"token": tokens["access_token"],
                                                            "client_id": app_client.client_id})
    assert revoked.status_code == 200
    assert _introspect(server, tokens["access_token"]) == {"active": False}
    assert fhir_get(server, tokens["access_token"], "Patient/jane-doe").status_code == 401


def test_revoking_a_refresh_token_revokes_its_chain(server, app_client):
    tokens = _tokens(server, app_client)
    assert _introspect(server, tokens["refresh_token"])["active"] is True
    revoked = httpx.post(f"{server.url}/auth/revoke", data={"token": tokens["refresh_token"],
                                                            "client_id": app_client.client_id})
    assert revoked.status_code == 200
    assert _introspect(server, tokens["refresh_token"]) == {"active": False}
    assert_oauth_error(_refresh(server, app_client, tokens["refresh_token"]), "invalid_grant")
    assert fhir_get(server, tokens["access_token"], "Patient/jane-doe").status_code == 401


def test_another_clients_token_is_not_revoked(server, app_client):
    other = add_client(server, "public")[0]
    tokens = _tokens(server, app_client)
    assert httpx.post(f"{server.url}/auth/revoke", data={"token": tokens["access_token"],
                                                         "client_id": other.client_id}).status_code == 200
    assert _introspect(server, tokens["access_token"])["active"] is True


def test_delegate_token_stops_when_consent_is_revoked(server, app_client, admin, smtp):
    # A patient and a delegate of this test's own: revoking their consent touches no other test.
    owner = registered_patient(server, admin, smtp, given="Owen", family="Granter")
    helper = registered_patient(server, admin, smtp, given="Hal", family="Helper")
    add_delegate(server, smtp, owner, helper)
    [consent] = [e["resource"] for e in admin.get("/Consent", params={"patient": owner.patient_id,
                                                                      "status": "active"}).json()["entry"]]
    related = consent["provision"]["actor"][0]["reference"]["reference"]
    tokens = _tokens(server, app_client, patient=owner.patient_id, fhir_user=related, consent=consent["id"])
    assert fhir_get(server, tokens["access_token"], f"Patient/{owner.patient_id}").status_code == 200
    assert admin.put(f"Consent/{consent['id']}", json={**consent, "status": "inactive"},
                     headers={"Content-Type": "application/fhir+json"}).status_code == 200
    assert fhir_get(server, tokens["access_token"], f"Patient/{owner.patient_id}").status_code == 401
    assert_oauth_error(_refresh(server, app_client, tokens["refresh_token"]), "invalid_grant")
