"""The authorization_code grant: each attack refused with the OAuth error the spec names."""

from __future__ import annotations

import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from fhir_server.smart import keys
from tests.smart.helpers import (
    REDIRECT,
    add_client,
    assert_oauth_error,
    exchange,
    fhir_get,
    make_code,
    token_request,
)

SCOPE = "openid fhirUser launch/patient patient/Patient.rs patient/Observation.rs"


@pytest.fixture(scope="module")
def app_client(server):
    return add_client(server, "public")[0]


def test_code_exchange_gives_a_patient_token_that_reads_only_its_patient(server, app_client):
    code, verifier = make_code(server, app_client, SCOPE)
    response = exchange(server, app_client, code, verifier)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer" and body["patient"] == "jane-doe" and body["scope"] == SCOPE
    assert body["need_patient_banner"] is True and "refresh_token" not in body
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["aud"] == server.fhir and claims["iss"] == server.url
    assert claims["fhirUser"] == "Patient/jane-doe" and claims["client_id"] == app_client.client_id
    id_token = jwt.decode(body["id_token"], keys.load_or_create(server.settings.data_dir).private_key.public_key(),
                          algorithms=["RS256"], audience=app_client.client_id)
    assert id_token["fhirUser"] == f"{server.fhir}/Patient/jane-doe" and id_token["nonce"] == "n-1"
    assert fhir_get(server, body["access_token"], "Patient/jane-doe").status_code == 200
    other = fhir_get(server, body["access_token"], "Patient/robert-chen")
    assert other.status_code == 404 and other.json()["resourceType"] == "OperationOutcome"


def test_limited_scope_token_is_refused_other_types(server, app_client):
    code, verifier = make_code(server, app_client, "launch/patient patient/Observation.rs")
    token = exchange(server, app_client, code, verifier).json()["access_token"]
    refused = fhir_get(server, token, "Condition?patient=jane-doe")
    assert refused.status_code == 403 and refused.json()["resourceType"] == "OperationOutcome"


def test_unknown_code_is_refused(server, app_client):
    assert_oauth_error(exchange(server, app_client, "not-a-code", "x" * 43), "invalid_grant")


def test_replayed_code_is_refused_and_revokes_the_first_token(server, app_client):
    code, verifier = make_code(server, app_client, SCOPE)
    first = exchange(server, app_client, code, verifier).json()["access_token"]
    assert_oauth_error(exchange(server, app_client, code, verifier), "invalid_grant")
    assert fhir_get(server, first, "Patient/jane-doe").status_code == 401


def test_expired_code_is_refused(server, app_client):
    code, verifier = make_code(server, app_client, SCOPE, ttl=-1)
    assert_oauth_error(exchange(server, app_client, code, verifier), "invalid_grant")


def test_code_used_by_another_client_is_refused(server, app_client):
    other = add_client(server, "public")[0]
    code, verifier = make_code(server, app_client, SCOPE)
    assert_oauth_error(exchange(server, other, code, verifier), "invalid_grant")


def test_wrong_code_verifier_is_refused(server, app_client):
    code, _ = make_code(server, app_client, SCOPE)
    assert_oauth_error(exchange(server, app_client, code, "W" * 50), "invalid_grant")


def test_missing_code_verifier_is_refused(server, app_client):
    code, _ = make_code(server, app_client, SCOPE)
    assert_oauth_error(exchange(server, app_client, code, None), "invalid_request")


def test_redirect_uri_off_by_one_character_is_refused(server, app_client):
    code, verifier = make_code(server, app_client, SCOPE)
    assert_oauth_error(exchange(server, app_client, code, verifier, redirect_uri=REDIRECT + "x"), "invalid_grant")


def test_unknown_client_is_refused(server):
    assert_oauth_error(token_request(server, {"grant_type": "authorization_code", "code": "x",
                                              "client_id": "nobody"}), "invalid_client", 401)


def test_unsupported_grant_type(server, app_client):
    assert_oauth_error(token_request(server, {"grant_type": "password", "client_id": app_client.client_id}),
                       "unsupported_grant_type")


def test_confidential_client_must_authenticate_with_its_secret(server):
    client, secret = add_client(server, "confidential")
    code, verifier = make_code(server, client, SCOPE)
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier}
    assert_oauth_error(token_request(server, data, auth=(client.client_id, "wrong")), "invalid_client", 401)
    assert_oauth_error(token_request(server, {**data, "client_id": client.client_id}), "invalid_client", 401)
    code, verifier = make_code(server, client, SCOPE)
    data.update(code=code, code_verifier=verifier)
    assert token_request(server, data, auth=(client.client_id, secret)).status_code == 200
    code, verifier = make_code(server, client, SCOPE)
    data.update(code=code, code_verifier=verifier, client_id=client.client_id, client_secret=secret)
    assert token_request(server, data).status_code == 200


def _forge(server, key, **changes):
    now = int(time.time())
    claims = {"iss": server.url, "aud": server.fhir, "sub": "x", "scope": "system/*.rs", "iat": now,
              "exp": now + 300, "jti": "forged", **changes}
    return jwt.encode(claims, key, algorithm="RS256")


def test_bad_tokens_are_refused_at_fhir_with_401(server):
    real = keys.load_or_create(server.settings.data_dir).private_key
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    good = _forge(server, real)
    head, body, sig = good.split(".")
    tampered_body = jwt.utils.base64url_encode(
        jwt.utils.base64url_decode(body).replace(b"system/*.rs", b"system/*.cruds")).decode()
    unsigned = jwt.encode({"iss": server.url, "aud": server.fhir, "sub": "x", "scope": "system/*.rs",
                           "iat": 1, "exp": 2**31, "jti": "n"}, None, algorithm="none")
    for token in (_forge(server, real, exp=int(time.time()) - 10), f"{head}.{tampered_body}.{sig}", unsigned,
                  _forge(server, other), _forge(server, real, aud="https://elsewhere.example/fhir")):
        response = fhir_get(server, token, "Patient/jane-doe")
        assert response.status_code == 401, token
        assert response.json()["resourceType"] == "OperationOutcome"
    assert fhir_get(server, good, "Patient/jane-doe").status_code == 200


def test_brute_force_on_the_token_endpoint_is_locked_out(server):
    guesser = add_client(server, "public")[0]
    for _ in range(20):
        response = token_request(server, {"grant_type": "authorization_code", "code": "guess", "client_id":
                                          guesser.client_id, "redirect_uri": REDIRECT, "code_verifier": "v" * 43})
        assert_oauth_error(response, "invalid_grant")
    # Even a right code is refused while the lock lasts.
    code, verifier = make_code(server, guesser, "patient/Observation.rs launch/patient")
    locked = exchange(server, guesser, code, verifier)
    assert_oauth_error(locked, "invalid_client", status=429)
    assert int(locked.headers["Retry-After"]) > 0
