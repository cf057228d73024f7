"""The session fixtures themselves: what every other test leans on."""

from __future__ import annotations

import time

import httpx
import jwt

from tests.conftest import RunningServer


def _exp(client: httpx.Client) -> int:
    token = client.headers["Authorization"].removeprefix("Bearer ")
    return int(jwt.decode(token, options={"verify_signature": False})["exp"])


def test_the_session_admin_token_outlives_any_run(admin: httpx.Client) -> None:
    # A full run on two busy cores takes well over ten minutes; the session token must not expire mid-run.
    assert _exp(admin) - time.time() > 24 * 3600
    assert admin.get("/Patient/jane-doe").status_code == 200


def test_a_token_asked_for_with_a_short_life_expires(server: RunningServer) -> None:
    token = server.token("system/*.rs", ttl=-1)
    response = httpx.get(f"{server.fhir}/Patient/jane-doe", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert response.status_code == 401
    assert "expired" in response.json()["issue"][0]["diagnostics"]
