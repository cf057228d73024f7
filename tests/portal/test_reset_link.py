"""A password-reset link works once, and not after it expires."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from fhir_server.portal.links import LINKS
from tests.mailbox import Mailbox
from tests.support.mail import link_in
from tests.support.portal import Person, form_post, registered_patient


def reset_link(server: Any, smtp: Mailbox, person: Person) -> str:
    before = len(smtp.to(person.email))
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert form_post(client, "/forgot-password", {"email": person.email}).status_code == 200
    return link_in(smtp.wait_for(person.email, "Reset your", after=before), "/reset-password")


def use(server: Any, link: str, password: str) -> httpx.Response:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        opened = client.get(link, follow_redirects=True)
        if opened.status_code != 200:
            return opened
        return form_post(client, "/reset-password", {"password": password, "password_confirm": password})


def test_a_reset_link_works_once(server: Any, admin: httpx.Client, smtp: Mailbox) -> None:
    person = registered_patient(server, admin, smtp, given="Once")
    link = reset_link(server, smtp, person)
    done = use(server, link, "Brand-New-Pass-1")
    assert done.status_code == 303 and done.headers["location"] == "/login?notice=reset"
    again = use(server, link, "Other-New-Pass-2")
    assert again.status_code == 410 and "already been used" in again.text


def test_an_expired_reset_link_is_refused_and_changes_nothing(server: Any, admin: httpx.Client, smtp: Mailbox,
                                                             db: Any) -> None:
    person = registered_patient(server, admin, smtp, given="Late")
    link = reset_link(server, smtp, person)
    token = parse_qs(urlsplit(link).query)["token"][0]
    key = hashlib.sha256(token.encode()).hexdigest()
    stored = db[LINKS].find_one({"_id": key})
    assert timedelta(0) < stored["expires"] - stored["created"] <= timedelta(hours=24)
    db[LINKS].update_one({"_id": key}, {"$set": {"expires": datetime.now(UTC) - timedelta(seconds=1)}})
    hash_before = db["accounts"].find_one({"email": person.email})["password_hash"]
    refused = use(server, link, "Too-Late-Pass-3")
    assert refused.status_code == 410 and "expired" in refused.text
    assert db["accounts"].find_one({"email": person.email})["password_hash"] == hash_before
