"""SMART Backend Services: client_credentials with private_key_jwt (RS384, ES384)."""

from __future__ import annotations

import httpx
import pytest

from tests.smart.helpers import BackendKey, add_client, assert_oauth_error, backend_token_request, fhir_get


@pytest.fixture(scope="module")
def backend(server):
    key = BackendKey("RS384")
    client = add_client(server, "backend", jwks=key.jwks, scope="system/*.rs")[0]
    return client, key


def _aud(server):
    return f"{server.url}/auth/token"


def test_rs384_backend_client_reads_patients(server, backend):
    client, key = backend
    with server.client() as admin:  # a page of 5 whatever ran before (the demo holds 3 Patients)
        for family in ("Backend-One", "Backend-Two"):
            created = admin.post("/Patient", json={"resourceType": "Patient", "name": [{"family": family}]})
            assert created.status_code == 201, created.text
    response = backend_token_request(server, client.client_id, key.assertion(client.client_id, _aud(server)))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scope"] == "system/*.rs" and body["expires_in"] == 300 and "refresh_token" not in body
    search = fhir_get(server, body["access_token"], "Patient?_count=5")
    assert search.status_code == 200, search.text
    assert search.json()["resourceType"] == "Bundle" and len(search.json()["entry"]) == 5
    # system/*.rs reads, never writes.
    refused = httpx.post(f"{server.fhir}/Patient", json={"resourceType": "Patient"}, timeout=30,
                         headers={"Authorization": f"Bearer {body['access_token']}"})
    assert refused.status_code == 403
    assert fhir_get(server, body["access_token"], "Patient/robert-chen").status_code == 200


def test_es384_backend_client_gets_a_token(server):
    key = BackendKey("ES384")
    client = add_client(server, "backend", jwks=key.jwks)[0]
    assert backend_token_request(server, client.client_id,
                                 key.assertion(client.client_id, _aud(server))).status_code == 200


def test_scope_beyond_the_registered_ones_is_refused(server, backend):
    client, key = backend
    response = backend_token_request(server, client.client_id, key.assertion(client.client_id, _aud(server)),
                                     scope="patient/*.rs")
    assert_oauth_error(response, "invalid_scope")
    narrowed = backend_token_request(server, client.client_id, key.assertion(client.client_id, _aud(server)),
                                     scope="system/Patient.cruds")
    assert narrowed.json()["scope"] == "system/Patient.rs"


def test_reused_jti_is_refused(server, backend):
    client, key = backend
    assertion = key.assertion(client.client_id, _aud(server), jti="once")
    assert backend_token_request(server, client.client_id, assertion).status_code == 200
    assert_oauth_error(backend_token_request(server, client.client_id, assertion), "invalid_client", 401)


@pytest.mark.parametrize("change", [
    {"exp_in": 3600}, {"exp_in": -120}, {"aud": "https://elsewhere.example/token"}, {"sub": "someone-else"},
])
def test_bad_assertions_are_refused(server, backend, change):
    client, key = backend
    aud = change.pop("aud", _aud(server))
    response = backend_token_request(server, client.client_id, key.assertion(client.client_id, aud, **change))
    assert_oauth_error(response, "invalid_client", 401)


def test_assertion_signed_by_another_key_or_unknown_client_is_refused(server, backend):
    client, _ = backend
    stranger = BackendKey("RS384")
    stranger.kid = client.client_id  # any kid: no key of the client verifies it
    forged = stranger.assertion(client.client_id, _aud(server))
    assert_oauth_error(backend_token_request(server, client.client_id, forged), "invalid_client", 401)
    assert_oauth_error(backend_token_request(server, "nobody", stranger.assertion("nobody", _aud(server))),
                       "invalid_client", 401)
