"""Forgot password gives no timing oracle (security review, issue 13, Low 7): the page answers
before any work that depends on the email, which happens in the background for every address,
registered or not, so both cost the request the same."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import httpx
import pytest

from fhir_server.portal import invites, links
from tests.portal.test_messages_support import member

DELAY = 1.5  # the reset work is held back this long, so "answered first" cannot be luck


def ask_for_reset(server: Any, email: str) -> str:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/forgot-password").text)
        assert csrf
        answered = client.post("/forgot-password", data={"email": email, "csrf_token": csrf.group(1)})
        assert answered.status_code == 200, answered.text
        return answered.text.replace(csrf.group(1), "")


def test_the_page_answers_before_the_email_is_looked_up(server: Any, admin: httpx.Client, db: Any, smtp: Any,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    who = member(server, admin, smtp, given="Timing")
    account = db["accounts"].find_one({"email": who.person.email})
    real = invites.send_reset

    async def held_back(services: Any, found: Any) -> None:
        await asyncio.sleep(DELAY)
        await real(services, found)

    monkeypatch.setattr(invites, "send_reset", held_back)
    resets = {"kind": "reset", "subject": account["_id"]}
    registered = ask_for_reset(server, who.person.email)
    assert db[links.LINKS].count_documents(resets) == 0  # nothing yet: the answer did not wait for it
    unknown = ask_for_reset(server, "nobody-" + who.person.email)
    # The same page either way (it names the address typed, and nothing else differs).
    assert registered.replace(who.person.email, "@") == unknown.replace("nobody-" + who.person.email, "@")
    deadline = time.monotonic() + 15
    while db[links.LINKS].count_documents(resets) == 0:
        assert time.monotonic() < deadline, "the reset link was never issued"
        time.sleep(0.1)
