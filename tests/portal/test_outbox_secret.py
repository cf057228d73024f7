"""The demo outbox is only for whoever holds the secret ``serve --demo`` printed (security review,
issue 13, Medium 4): it shows reset links and Send Record keys, so reaching the port is not enough."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from fhir_server.cli import _announce
from tests.portal.conftest import invite, new_patient


@pytest.fixture
def without_smtp(server: Any) -> Iterator[None]:
    configured, server.settings.smtp_url = server.settings.smtp_url, None
    try:
        yield
    finally:
        server.settings.smtp_url = configured


def test_the_outbox_needs_the_printed_link(server: Any, admin: httpx.Client, without_smtp: None) -> None:
    person = new_patient(admin, given="Secret")
    assert invite(server, person).status_code == 200
    with httpx.Client(base_url=server.url, timeout=30) as stranger:
        for attempt in ("/dev/outbox", "/dev/outbox?token=", "/dev/outbox?token=guess-" + "x" * 30):
            refused = stranger.get(attempt)
            assert refused.status_code == 403, attempt
            assert person.email not in refused.text and "/register?token=" not in refused.text
            assert "carespace serve --demo" in refused.text
        stranger.cookies.set("carespace_outbox", server.settings.outbox_token, path="/dev/outbox")
        assert stranger.get("/dev/outbox").status_code == 403  # the secret itself is not the cookie
    with httpx.Client(base_url=server.url, timeout=30) as holder:
        opened = holder.get(f"/dev/outbox?token={server.settings.outbox_token}")
        # The token is swapped for a cookie at once: it leaves the address bar and Referer.
        assert opened.status_code == 303 and opened.headers["location"] == "/dev/outbox"
        cookie = opened.headers["set-cookie"]
        assert "HttpOnly" in cookie and "Path=/dev/outbox" in cookie and server.settings.outbox_token not in cookie
        shown = holder.get("/dev/outbox")
        assert shown.status_code == 200 and f"To {person.email}" in shown.text
        assert "/register?token=" in shown.text and shown.headers["referrer-policy"] == "no-referrer"


def test_serve_demo_prints_the_outbox_link_with_its_secret(server: Any, capsys: pytest.CaptureFixture[str]) -> None:
    settings = server.settings.model_copy(update={"smtp_url": None})
    _announce(settings)
    printed = capsys.readouterr().out
    assert f"{server.url}/dev/outbox?token={settings.outbox_token}" in printed
    assert len(settings.outbox_token) >= 32
    assert type(settings)().outbox_token != settings.outbox_token  # a new secret at every start
