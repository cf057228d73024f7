"""Discovery: SMART configuration, OpenID configuration, JWK Set."""

from __future__ import annotations

import httpx

CAPABILITIES = {
    "launch-standalone", "launch-ehr", "client-public", "client-confidential-symmetric",
    "client-confidential-asymmetric", "context-standalone-patient", "context-ehr-patient",
    "permission-patient", "permission-user", "permission-offline", "permission-v1", "permission-v2",
    "sso-openid-connect", "authorize-post",
}


def test_smart_configuration_lists_absolute_endpoints_and_capabilities(server):
    for url in (f"{server.fhir}/.well-known/smart-configuration", f"{server.url}/.well-known/smart-configuration"):
        doc = httpx.get(url).json()
        assert doc["token_endpoint"] == f"{server.url}/auth/token"
        assert doc["authorization_endpoint"] == f"{server.url}/auth/authorize"
        assert doc["code_challenge_methods_supported"] == ["S256"]
        assert set(doc["capabilities"]) == CAPABILITIES
        assert "private_key_jwt" in doc["token_endpoint_auth_methods_supported"]


def test_openid_configuration_and_jwks(server):
    doc = httpx.get(f"{server.url}/.well-known/openid-configuration").json()
    assert doc["issuer"] == server.url and doc["jwks_uri"] == f"{server.url}/auth/jwks"
    keys = httpx.get(doc["jwks_uri"]).json()["keys"]
    assert keys[0]["kty"] == "RSA" and "d" not in keys[0]
