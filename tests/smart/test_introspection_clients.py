"""Introspection tells a client only about its own tokens (security review, issue 13, Low 5): a
confidential client cannot learn the patient, account and scopes of another app's tokens; a
client registered as a resource server, and practice administration, may."""

from __future__ import annotations

from typing import Any

import httpx

from tests.smart.helpers import add_client, exchange, make_code

SCOPE = "launch/patient offline_access patient/Patient.rs patient/Observation.rs"


def tokens_of(server: Any, client: Any, secret: str | None = None) -> dict[str, Any]:
    code, verifier = make_code(server, client, SCOPE)
    extra = {"client_secret": secret} if secret else {}
    answered = exchange(server, client, code, verifier, **extra)
    assert answered.status_code == 200, answered.text
    body: dict[str, Any] = answered.json()
    return body


def introspect(server: Any, token: str, client_id: str, secret: str) -> dict[str, Any]:
    answered = httpx.post(f"{server.url}/auth/introspect", data={"token": token}, auth=(client_id, secret))
    assert answered.status_code == 200, answered.text
    body: dict[str, Any] = answered.json()
    return body


def test_a_client_learns_nothing_of_another_clients_tokens(server: Any) -> None:
    victim = add_client(server, "public")[0]
    victims = tokens_of(server, victim)
    snoop, snoop_secret = add_client(server, "confidential")
    assert snoop_secret
    for token in (victims["access_token"], victims["refresh_token"]):
        assert introspect(server, token, snoop.client_id, snoop_secret) == {"active": False}
    # Its own tokens it may introspect.
    own = tokens_of(server, snoop, snoop_secret)
    mine = introspect(server, own["access_token"], snoop.client_id, snoop_secret)
    assert mine["active"] is True and mine["client_id"] == snoop.client_id and mine["patient"] == "jane-doe"


def test_a_registered_resource_server_and_the_practice_may_introspect_any_token(server: Any) -> None:
    app = add_client(server, "public")[0]
    tokens = tokens_of(server, app)
    gateway, secret = add_client(server, "confidential", resource_server=True)
    assert secret
    info = introspect(server, tokens["access_token"], gateway.client_id, secret)
    assert info["active"] is True and info["client_id"] == app.client_id and info["patient"] == "jane-doe"
    practice = httpx.post(f"{server.url}/auth/introspect", data={"token": tokens["access_token"]},
                          headers={"Authorization": f"Bearer {server.token('system/*.rs')}"}).json()
    assert practice["active"] is True and practice["client_id"] == app.client_id


def test_a_back_end_clients_system_token_sees_only_its_own(server: Any) -> None:
    app = add_client(server, "public")[0]
    tokens = tokens_of(server, app)
    backend = add_client(server, "backend", jwks={"keys": []})[0]
    system = server.token("system/*.rs", client_id=backend.client_id)
    answered = httpx.post(f"{server.url}/auth/introspect", data={"token": tokens["access_token"]},
                          headers={"Authorization": f"Bearer {system}"})
    assert answered.json() == {"active": False}
