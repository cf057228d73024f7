"""Small factories for the SMART tests: clients, codes made directly, PKCE pairs, assertions."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from fhir_server.db import Database
from fhir_server.smart import codes
from fhir_server.smart.clients import Client, register_client
from fhir_server.smart.store import Authorization
from tests.threaded import run_coroutine

T = TypeVar("T")
REDIRECT = "https://app.example.org/callback"


def run(server: Any, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run database work on its own thread and loop (the sync Playwright of browser tests
    keeps an event loop running on the test's thread)."""
    async def main() -> T:
        db = Database(server.mongo_uri, server.settings.database_name, embedded=True)
        try:
            return await work(db)
        finally:
            await db.close()

    return run_coroutine(main())


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def add_client(server: Any, kind: str = "public", **kwargs: Any) -> tuple[Client, str | None]:
    if kind != "backend":
        kwargs.setdefault("redirect_uris", [REDIRECT])
    return run(server, lambda db: register_client(db, name=f"Test {kind} app", kind=kind, **kwargs))


def make_code(server: Any, client: Client, scope: str, *, patient: str = "jane-doe",
              fhir_user: str | None = "Patient/jane-doe", consent: str | None = None,
              redirect_uri: str = REDIRECT, ttl: int = 60) -> tuple[str, str]:
    """An authorization code as /auth/authorize would issue it; returns (code, verifier)."""
    verifier, challenge = pkce_pair()
    authorization = Authorization(client_id=client.client_id, sub="account-test", scope=scope, patient=patient,
                                  fhir_user=fhir_user, consent=consent, nonce="n-1")
    code = run(server, lambda db: codes.create_code(db, redirect_uri=redirect_uri, code_challenge=challenge,
                                                    authorization=authorization, ttl=ttl))
    return code, verifier


def token_request(server: Any, data: dict[str, str], **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{server.url}/auth/token", data=data, timeout=30, **kwargs)


def exchange(server: Any, client: Client, code: str, verifier: str | None, **extra: str) -> httpx.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
            "client_id": client.client_id, **extra}
    if verifier is not None:
        data["code_verifier"] = verifier
    return token_request(server, data)


def fhir_get(server: Any, token: str, path: str) -> httpx.Response:
    return httpx.get(f"{server.fhir}/{path}", headers={"Authorization": f"Bearer {token}"}, timeout=30)


def assert_oauth_error(response: httpx.Response, error: str, status: int = 400) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error, body
    assert "access_token" not in body and "refresh_token" not in body


class BackendKey:
    """A back-end client's key pair (RS384 or ES384) and its public JWK Set."""

    def __init__(self, alg: str = "RS384") -> None:
        self.alg = alg
        self.kid = uuid.uuid4().hex[:8]
        if alg == "RS384":
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key()))
        else:
            self.private = ec.generate_private_key(ec.SECP384R1())
            public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.private.public_key()))
        self.jwks = {"keys": [{**public, "kid": self.kid, "alg": alg}]}

    def assertion(self, client_id: str, aud: str, *, exp_in: int = 240, jti: str | None = None,
                  **overrides: Any) -> str:
        now = int(time.time())
        claims = {"iss": client_id, "sub": client_id, "aud": aud, "exp": now + exp_in,
                  "jti": jti or uuid.uuid4().hex, **overrides}
        return jwt.encode(claims, self.private, algorithm=self.alg, headers={"kid": self.kid})


def backend_token_request(server: Any, client_id: str, assertion: str, scope: str = "system/*.rs") -> httpx.Response:
    return token_request(server, {
        "grant_type": "client_credentials", "scope": scope,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion})
