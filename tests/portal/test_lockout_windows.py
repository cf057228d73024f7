"""The README's lockout windows, and their end: sign-in locks for 15 minutes after 5 failures
within 15 minutes; the token endpoint for 5 minutes after 20 failed grants. Time is moved by
ageing the attempt record, as the server's own clock would see it later."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from fhir_server.portal import lockout
from fhir_server.smart import token as token_endpoint
from tests.mailbox import Mailbox
from tests.smart.helpers import REDIRECT, add_client, exchange, make_code, token_request
from tests.support.portal import csrf_of, registered_patient, unique_email


def _sign_in(server: Any, email: str, password: str, birth_date: str) -> httpx.Response:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        return client.post("/login", data={"email": email, "password": password, "birth_date": birth_date,
                                           "csrf_token": csrf_of(client)})


def _age(db: Any, key: str, by: timedelta) -> None:
    """Move the attempt record ``by`` into the past."""
    doc = db[lockout.ATTEMPTS].find_one({"_id": key})
    assert doc is not None
    moved = {field: doc[field] - by for field in ("start", "locked_until") if doc.get(field)}
    db[lockout.ATTEMPTS].update_one({"_id": key}, {"$set": moved})


def test_sign_in_unlocks_after_15_minutes_not_before(server: Any, admin: httpx.Client, smtp: Mailbox,
                                                     db: Any) -> None:
    person = registered_patient(server, admin, smtp, given="Locked")
    for attempt in range(lockout.MAX_FAILURES):
        response = _sign_in(server, person.email, f"Wrong-{attempt}", person.birth_date)
    assert response.status_code == 429
    _age(db, person.email, timedelta(minutes=14))
    assert _sign_in(server, person.email, person.password, person.birth_date).status_code == 429
    _age(db, person.email, timedelta(minutes=1, seconds=1))
    signed = _sign_in(server, person.email, person.password, person.birth_date)
    assert signed.status_code == 303 and signed.headers["location"] == "/health"
    assert db[lockout.ATTEMPTS].find_one({"_id": person.email}) is None  # a success clears the count


def test_failures_older_than_15_minutes_no_longer_count(server: Any, db: Any) -> None:
    email = unique_email("window")
    for attempt in range(lockout.MAX_FAILURES - 1):
        assert _sign_in(server, email, f"Wrong-{attempt}", "1980-01-01").status_code == 400
    _age(db, email, timedelta(minutes=15, seconds=1))
    # A new window: four more failures are still answered, the fifth of this window locks.
    for attempt in range(lockout.MAX_FAILURES - 1):
        assert _sign_in(server, email, f"Again-{attempt}", "1980-01-01").status_code == 400
    assert _sign_in(server, email, "Last", "1980-01-01").status_code == 429


def test_the_token_endpoint_unlocks_after_5_minutes(server: Any, db: Any) -> None:
    guesser = add_client(server, "public")[0]
    for _ in range(token_endpoint.MAX_FAILURES):
        token_request(server, {"grant_type": "authorization_code", "code": "guess", "client_id": guesser.client_id,
                               "redirect_uri": REDIRECT, "code_verifier": "v" * 43})
    key = next(d["_id"] for d in db[lockout.ATTEMPTS].find({"_id": {"$regex": f"^oauth-token:{guesser.client_id}"}}))
    code, verifier = make_code(server, guesser, "launch/patient patient/Observation.rs")
    assert exchange(server, guesser, code, verifier).status_code == 429
    assert timedelta(minutes=5) == token_endpoint.WINDOW
    _age(db, key, timedelta(minutes=4))
    code, verifier = make_code(server, guesser, "launch/patient patient/Observation.rs")
    assert exchange(server, guesser, code, verifier).status_code == 429
    _age(db, key, timedelta(minutes=1, seconds=1))
    code, verifier = make_code(server, guesser, "launch/patient patient/Observation.rs")
    response = exchange(server, guesser, code, verifier)
    assert response.status_code == 200, response.text
    assert "locked_until" not in db[lockout.ATTEMPTS].find_one({"_id": key})  # a new window began
