"""Two (or ten) requests at once: what a busy server, a double click or an attacker does.

Each test fires its requests from threads released together by a barrier, so that they reach
the server at the same moment, then checks that exactly what may happen once happened once.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx
import pytest

from fhir_server.portal import lockout
from fhir_server.shl.links import MAX_ATTEMPTS
from fhir_server.smart import token as token_endpoint
from tests.conftest import RunningServer
from tests.mailbox import Mailbox
from tests.portal.test_messages_support import member, practice_message
from tests.shl.conftest import PASSCODE, payload_of, send
from tests.smart.helpers import REDIRECT, add_client, exchange, fhir_get, make_code, token_request
from tests.support.portal import FHIR_JSON, csrf_of, registered_patient

T = TypeVar("T")


def at_once(n: int, work: Callable[[int], T]) -> list[T]:
    """``work(i)`` for i in range(n), all released at the same moment."""
    barrier = threading.Barrier(n)

    def run(i: int) -> T:
        barrier.wait(timeout=30)
        return work(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def test_if_none_exist_twice_at_once_creates_one(server: RunningServer, admin: httpx.Client) -> None:
    mrn = uuid.uuid4().hex
    body = {"resourceType": "Patient", "identifier": [{"system": "https://example.org/mrn", "value": mrn}]}

    def create(_: int) -> httpx.Response:
        with server.client() as client:
            return client.post("/Patient", json=body, headers={"If-None-Exist": f"identifier=https://example.org/mrn|{mrn}"})

    responses = at_once(6, create)
    statuses = Counter(r.status_code for r in responses)
    assert statuses[201] == 1, statuses
    assert statuses[200] == 5, statuses
    assert len({r.json()["id"] for r in responses}) == 1
    found = admin.get("/Patient", params={"identifier": f"https://example.org/mrn|{mrn}"}).json()
    assert found["total"] == 1


def test_transactions_on_one_version_at_once_one_commits_and_the_others_leave_nothing(
        server: RunningServer, admin: httpx.Client) -> None:
    shared = admin.post("/Patient", json={"resourceType": "Patient", "gender": "female"}).json()
    marker = uuid.uuid4().hex[:10]

    def transact(i: int) -> int:
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
            {"resource": {"resourceType": "Patient", "name": [{"family": f"Tx{marker}", "given": [str(i)]}]},
             "request": {"method": "POST", "url": "Patient"}},
            {"resource": {**shared, "gender": "other", "name": [{"family": f"Winner{i}"}]},
             "request": {"method": "PUT", "url": f"Patient/{shared['id']}", "ifMatch": 'W/"1"'}}]}
        with server.client() as client:
            return client.post("", json=bundle).status_code

    statuses = Counter(at_once(5, transact))
    assert statuses == Counter({200: 1, 412: 4}), statuses
    created = admin.get("/Patient", params={"family": f"Tx{marker}"}).json()
    assert created["total"] == 1
    winner = created["entry"][0]["resource"]["name"][0]["given"][0]
    current = admin.get(f"/Patient/{shared['id']}").json()
    assert current["meta"]["versionId"] == "2" and current["name"][0]["family"] == f"Winner{winner}"


def test_one_refresh_token_used_twice_at_once_revokes_the_chain_and_nothing_usable_comes_out(
        server: RunningServer) -> None:
    """Two uses of one refresh token is the spec's sign of a stolen token: at most one use
    rotates, the other revokes the chain, and the chain's tokens (the rotated one's too) are dead."""
    client = add_client(server, "public")[0]
    code, verifier = make_code(server, client, "launch/patient offline_access patient/Patient.rs")
    first = exchange(server, client, code, verifier).json()

    def refresh(_: int) -> httpx.Response:
        return token_request(server, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"],
                                      "client_id": client.client_id})

    responses = at_once(2, refresh)
    won = [r.json() for r in responses if r.status_code == 200]
    lost = [r.json() for r in responses if r.status_code == 400]
    assert len(won) + len(lost) == 2 and len(won) <= 1 and lost, [r.text for r in responses]
    assert all(body["error"] == "invalid_grant" and "chain is now revoked" in body["error_description"]
               for body in lost)
    for new in won:  # a rotation that raced the reuse: its tokens went with the chain
        again = token_request(server, {"grant_type": "refresh_token", "refresh_token": new["refresh_token"],
                                       "client_id": client.client_id})
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
        assert fhir_get(server, new["access_token"], "Patient/jane-doe").status_code == 401
    assert fhir_get(server, first["access_token"], "Patient/jane-doe").status_code == 401


def test_two_replies_at_once_store_one(server: RunningServer, admin: httpx.Client, smtp: Mailbox) -> None:
    who = member(server, admin, smtp, given="Twice")
    message = practice_message(admin, who.person.patient_id, subject="Any questions?", text="Let us know.")

    def reply(i: int) -> int:
        body = {"resourceType": "Communication", "status": "completed",
                "inResponseTo": [{"reference": f"Communication/{message['id']}"}],
                "category": message["category"], "topic": message["topic"],
                "subject": {"reference": who.patient_ref}, "sender": {"reference": who.patient_ref},
                "recipient": [{"reference": who.care_team}], "payload": [{"contentString": f"Reply {i}"}]}
        with server.client("patient/Communication.cruds", patient=who.person.patient_id,
                           fhirUser=who.patient_ref) as api:
            return api.post("/Communication", headers=FHIR_JSON, json=body).status_code

    statuses = Counter(at_once(4, reply))
    assert statuses == Counter({201: 1, 409: 3}), statuses
    replies = admin.get("/Communication", params={"in-response-to": f"Communication/{message['id']}",
                                                  "_summary": "count"}).json()
    assert replies["total"] == 1


def test_parallel_wrong_passcodes_on_a_shared_record_charge_exactly_the_limit(server: RunningServer, db: Any) -> None:
    created = send(server, "jane-doe", "2024-01-01", "2024-12-31", recipient=f"dr.{uuid.uuid4().hex[:8]}@x.example")
    url = payload_of(created.shlink)["url"]

    def guess(i: int) -> httpx.Response:
        return httpx.post(url, json={"recipient": "Dr. Race", "passcode": f"Wrong-{i}"}, timeout=60)

    responses = at_once(12, guess)
    statuses = Counter(r.status_code for r in responses)
    assert statuses == Counter({401: MAX_ATTEMPTS, 404: 12 - MAX_ATTEMPTS}), statuses
    # (The remaining counts shown are read back after the charge, so parallel guesses may see the same
    # number: cosmetic. The charge itself is one atomic conditional increment each.)
    remaining = [r.json()["remainingAttempts"] for r in responses if r.status_code == 401]
    assert all(0 <= n < MAX_ATTEMPTS for n in remaining) and 0 in remaining
    assert db["shl_links"].find_one({"_id": created.record.id})["failures"] == MAX_ATTEMPTS
    assert httpx.post(url, json={"recipient": "Dr. Race", "passcode": PASSCODE}, timeout=30).json()["error"] == "locked"


def test_parallel_wrong_sign_ins_charge_exactly_the_limit(server: RunningServer, admin: httpx.Client,
                                                          smtp: Mailbox) -> None:
    person = registered_patient(server, admin, smtp, given="Guessed")

    def guess(i: int) -> httpx.Response:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            return client.post("/login", data={"email": person.email, "password": f"Wrong-Guess-{i}",
                                               "birth_date": person.birth_date, "csrf_token": csrf_of(client)})

    responses = at_once(12, guess)
    wrong = [r for r in responses if "do not match our records" in r.text]
    locked = [r for r in responses if r.status_code == 429]
    # Only the limit's worth of passwords were tried; every other request was told to wait.
    assert len(wrong) == lockout.MAX_FAILURES - 1 and len(locked) == 12 - len(wrong), Counter(
        r.status_code for r in responses)
    assert len(smtp.wait_for(person.email, "was paused") and smtp.to(person.email)) == 2  # invite + one lock mail
    with httpx.Client(base_url=server.url, timeout=30) as client:
        right = client.post("/login", data={"email": person.email, "password": person.password,
                                            "birth_date": person.birth_date, "csrf_token": csrf_of(client)})
    assert right.status_code == 429


def test_parallel_wrong_codes_at_the_token_endpoint_charge_exactly_the_limit(server: RunningServer) -> None:
    guesser = add_client(server, "public")[0]
    n = token_endpoint.MAX_FAILURES + 10

    def guess(i: int) -> httpx.Response:
        return token_request(server, {"grant_type": "authorization_code", "code": f"guess-{i}",
                                      "client_id": guesser.client_id, "redirect_uri": REDIRECT,
                                      "code_verifier": "v" * 43})

    statuses = Counter(r.status_code for r in at_once(n, guess))
    assert statuses == Counter({400: token_endpoint.MAX_FAILURES, 429: 10}), statuses


@pytest.fixture(autouse=True)
def _no_leftover_threads() -> Any:
    yield
    assert threading.active_count() < 50
