"""A power cut: kill -9 the server and its database together while writes are in flight.

Every write the server acknowledged before the cut must be there after the restart (resource
creates, updates and deletes through the API, transactions, a message sent in the portal), and
a transaction the cut caught half-way is there whole or not at all. The database is killed
first: were the server killed first, the database would get a clean SIGTERM from its parent's
death (PDEATHSIG) and flush, which no power cut does.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from fhir_server.embedded_db import free_port
from tests.support.serve import Serve, database_pid

ROUNDS = 10
ACKS_PER_ROUND = 14  # the cut comes once this many writes were acknowledged (and one of each kind)
TXN_SYSTEM = "urn:carespace:test:crash-transaction"
JANE = {"email": "jane.doe@example.org", "password": "Jane-Demo-2026!", "birth_date": "1968-04-12"}


@dataclass
class Acknowledged:
    """What the server answered for, filled by the writer threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    created: dict[str, str] = field(default_factory=dict)  # Patient id -> family name
    updated: dict[str, tuple[int, str]] = field(default_factory=dict)  # id -> (version, family)
    deleted: set[str] = field(default_factory=set)
    transactions: set[str] = field(default_factory=set)  # transaction tags
    attempted_transactions: set[str] = field(default_factory=set)
    messages: set[str] = field(default_factory=set)  # Communication ids sent in the portal

    def count(self) -> int:
        return (len(self.created) + len(self.updated) + len(self.deleted) + len(self.transactions)
                + len(self.messages))

    def has_every_kind(self) -> bool:
        return bool(self.created and self.updated and self.deleted and self.transactions and self.messages)


def _api_writer(client: httpx.Client, acks: Acknowledged, stop: threading.Event) -> None:
    """Create a Patient, update it, create another and delete it: four acknowledged writes a loop."""
    while not stop.is_set():
        family = f"Crash-{uuid.uuid4().hex[:8]}"
        created = client.post("/Patient", json={"resourceType": "Patient", "name": [{"family": family}]})
        if created.status_code != 201:
            return
        patient_id = created.json()["id"]
        with acks.lock:
            acks.created[patient_id] = family
        changed = client.put(f"/Patient/{patient_id}", json={"resourceType": "Patient", "id": patient_id,
                                                              "name": [{"family": family + "-v2"}]})
        if changed.status_code != 200:
            return
        with acks.lock:
            acks.updated[patient_id] = (int(changed.json()["meta"]["versionId"]), family + "-v2")
        doomed = client.post("/Patient", json={"resourceType": "Patient", "gender": "unknown"})
        if doomed.status_code != 201:
            return
        if client.delete(f"/Patient/{doomed.json()['id']}").status_code != 204:
            return
        with acks.lock:
            acks.deleted.add(doomed.json()["id"])


def _transaction_writer(client: httpx.Client, acks: Acknowledged, stop: threading.Event) -> None:
    """A Patient and two Observations of it, linked by urn:uuid references, in one transaction."""
    while not stop.is_set():
        tag = uuid.uuid4().hex
        with acks.lock:
            acks.attempted_transactions.add(tag)
        answer = client.post("/", json=_transaction(tag))
        if answer.status_code != 200:
            return
        with acks.lock:
            acks.transactions.add(tag)


def _transaction(tag: str) -> dict[str, object]:
    patient = f"urn:uuid:{uuid.uuid4()}"
    identifier = [{"system": TXN_SYSTEM, "value": tag}]
    entries: list[dict[str, object]] = [{
        "fullUrl": patient, "request": {"method": "POST", "url": "Patient"},
        "resource": {"resourceType": "Patient", "identifier": identifier, "name": [{"family": "Whole"}]},
    }]
    for value in (1.0, 2.0):
        entries.append({"request": {"method": "POST", "url": "Observation"}, "resource": {
            "resourceType": "Observation", "status": "final", "identifier": identifier,
            "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
            "subject": {"reference": patient}, "valueQuantity": {"value": value, "unit": "mg/dL"}}})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _portal_writer(url: str, acks: Acknowledged, stop: threading.Event) -> None:
    """Jane signs in and sends messages to her care team; a 303 to the new thread is the answer."""
    with httpx.Client(base_url=url, timeout=30) as browser:
        signed = browser.post("/login", data={**JANE, "csrf_token": _csrf(browser, "/login")})
        if signed.status_code != 303:
            return
        token = _csrf(browser, "/messages/new")
        while not stop.is_set():
            sent = browser.post("/messages/new", data={"csrf_token": token, "category": "Health",
                                                       "subject": "After the power cut", "body": "Still there?"})
            match = re.fullmatch(r"/messages/([^/?]+)\?notice=sent", sent.headers.get("location", ""))
            if sent.status_code != 303 or not match:
                return
            with acks.lock:
                acks.messages.add(match.group(1))


def _csrf(client: httpx.Client, path: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert match, f"{path} has no CSRF field"
    return match.group(1)


def _run_until_cut(serve: Serve, acks: Acknowledged) -> None:
    """Write from four threads; once enough is acknowledged, cut the power with writes in flight."""
    stop = threading.Event()
    api = serve.client()
    writers: list[Callable[[], None]] = [
        lambda: _api_writer(api, acks, stop),
        lambda: _api_writer(api, acks, stop),
        lambda: _transaction_writer(api, acks, stop),
        lambda: _portal_writer(serve.url, acks, stop),
    ]
    threads = [threading.Thread(target=_swallow_disconnects(w), daemon=True) for w in writers]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while not (acks.count() >= ACKS_PER_ROUND and acks.has_every_kind()):
        assert time.monotonic() < deadline, f"only {acks.count()} writes acknowledged in 60 s"
        assert all(t.is_alive() for t in threads), "a writer stopped before the cut"
        time.sleep(0.005)
    os.kill(database_pid(serve.data_dir), signal.SIGKILL)
    serve.process.kill()
    serve.process.wait(30)
    stop.set()
    for thread in threads:
        thread.join(30)
    api.close()


def _swallow_disconnects(writer: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        with contextlib.suppress(httpx.HTTPError):  # the cut: what was in flight was never acknowledged
            writer()
    return run


def _check_everything_acknowledged(client: httpx.Client, acks: Acknowledged) -> None:
    for patient_id, family in acks.created.items():  # an update the cut caught may or may not follow
        read = client.get(f"/Patient/{patient_id}/_history/1")
        assert read.status_code == 200, f"acknowledged create of Patient/{patient_id} lost"
        assert read.json()["name"][0]["family"] == family
    for patient_id, (version, family) in acks.updated.items():
        read = client.get(f"/Patient/{patient_id}/_history/{version}")
        assert read.status_code == 200, f"acknowledged update of Patient/{patient_id} lost"
        assert read.json()["name"][0]["family"] == family
        assert client.get(f"/Patient/{patient_id}").json()["meta"]["versionId"] == str(version)
    for patient_id in acks.deleted:
        assert client.get(f"/Patient/{patient_id}").status_code in (404, 410), f"Patient/{patient_id} came back"
    for message_id in acks.messages:
        read = client.get(f"/Communication/{message_id}")
        assert read.status_code == 200, f"message {message_id} sent in the portal was lost"
        assert read.json()["sender"]["reference"] == "Patient/jane-doe"
    for tag in acks.attempted_transactions:
        found = [client.get(f"/{kind}", params={"identifier": f"{TXN_SYSTEM}|{tag}", "_summary": "count"})
                 .json()["total"] for kind in ("Patient", "Observation")]
        if tag in acks.transactions:
            assert found == [1, 2], f"acknowledged transaction {tag} is not whole: {found}"
        else:
            assert found in ([0, 0], [1, 2]), f"a transaction the cut caught is half there: {found}"


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    data_dir = tmp_path / "var"
    yield data_dir
    # Whatever a failed round left running: the server and its database.
    for pid in (_pid_of(data_dir / "embedded-db.json", "owner"), _pid_of(data_dir / "embedded-db.json", "pid")):
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _pid_of(state: Path, key: str) -> int | None:
    with contextlib.suppress(FileNotFoundError, ValueError, KeyError):
        return int(json.loads(state.read_text())[key])
    return None


def test_power_cut_loses_no_acknowledged_write(data_dir: Path) -> None:
    port = free_port()
    everything, previous = Acknowledged(), Acknowledged()
    for _ in range(ROUNDS):
        serve = Serve(data_dir, port, "--demo")
        with serve.client() as client:
            _check_everything_acknowledged(client, previous)  # the last cut's writes, after the restart
        previous = Acknowledged()
        _run_until_cut(serve, previous)
        for name in ("created", "updated", "messages", "transactions", "attempted_transactions"):
            getattr(everything, name).update(getattr(previous, name))
        everything.deleted |= previous.deleted
    assert everything.count() >= 100 and len(everything.transactions) >= ROUNDS
    final = Serve(data_dir, port, "--demo")
    try:
        with final.client() as client:
            _check_everything_acknowledged(client, everything)  # and nothing a later cut took back
    finally:
        final.stop()
    print(f"{ROUNDS} power cuts, {everything.count()} acknowledged writes, all found "
          f"({len(everything.transactions)} transactions, {len(everything.messages)} portal messages)")
