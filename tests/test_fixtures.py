"""The session fixtures themselves: what every other test leans on."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import jwt
import pytest

from tests.conftest import RunningServer
from tests.support.shared_data import require_shared_data


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


def test_missing_sample_data_skips_on_a_laptop_but_fails_in_ci(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "no-such-data"
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        require_shared_data(missing)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must provide it"):
        require_shared_data(missing)
    assert require_shared_data(tmp_path) == tmp_path
