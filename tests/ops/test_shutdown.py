"""SIGTERM during a burst of writes: requests in flight finish, the services close, the embedded
database stops last, and every write the server acknowledged is there after the restart."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.controller import Controller
from pymongo import MongoClient

from fhir_server.embedded_db import free_port, running_uri
from tests.support.serve import Serve, alive

WRITERS = 6


def test_sigterm_during_a_burst_of_writes_loses_no_acknowledged_write(tmp_path: Path) -> None:
    serve = Serve(tmp_path / "var", free_port())
    database = serve.database_pid()
    token = serve.token()
    acked: list[str] = []
    refused: list[str] = []
    go = threading.Event()

    def write(n: int) -> None:
        with httpx.Client(base_url=f"{serve.url}/fhir", timeout=60, headers={
                "Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}) as client:
            go.wait()
            while True:
                try:
                    response = client.post("/Patient", json={"resourceType": "Patient", "gender": "other",
                                                             "name": [{"family": f"Burst{n}"}]})
                except httpx.HTTPError as exc:  # the server stopped accepting: nothing acknowledged
                    refused.append(type(exc).__name__)
                    return
                if response.status_code != 201:
                    refused.append(str(response.status_code))
                    return
                acked.append(response.json()["id"])

    threads = [threading.Thread(target=write, args=(n,), daemon=True) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    go.set()
    deadline = time.monotonic() + 60
    while len(acked) < 40 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(acked) >= 40
    serve.process.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    assert serve.process.wait(60) == 0
    took = time.monotonic() - signalled
    for thread in threads:
        thread.join(30)
    assert not alive(database), "the embedded database outlived serve"
    assert not any(t.is_alive() for t in threads) and len(refused) == WRITERS
    assert took < 40
    messages = [entry["message"] for entry in serve.log_entries()]
    assert messages.index("Application shutdown complete.") < messages.index("The embedded database has stopped.")

    again = Serve(serve.data_dir, free_port())
    try:
        uri = running_uri(serve.data_dir)
        assert uri
        with MongoClient(uri) as mongo:
            db = mongo["carespace"]
            stored = {d["_id"] for d in db.Patient.find({"_id": {"$in": acked}}, {"_id": 1})}
            assert stored == set(acked), f"{len(set(acked) - stored)} acknowledged writes lost"
            # Each create's AuditEvent was flushed before the database stopped, too.
            audited = {ref.split("/", 1)[1] for d in db.AuditEvent.find({}, {"res.entity": 1})
                       for ref in (e["what"]["reference"] for e in d["res"].get("entity", []))
                       if ref.startswith("Patient/")}
            assert set(acked) <= audited
    finally:
        again.stop()


class SlowSmtp:
    """An SMTP server that takes its time to accept each message (a slow relay)."""

    def __init__(self) -> None:
        self.received: list[bytes] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        await asyncio.sleep(3)  # before the message itself is sent: a sender that gives up sends nothing
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(envelope.content)
        return "250 Message accepted for delivery"


def test_sigterm_delivers_the_mail_already_queued(tmp_path: Path) -> None:
    relay, port = SlowSmtp(), free_port()
    controller = Controller(relay, hostname="127.0.0.1", port=port)
    controller.start()
    serve = Serve(tmp_path / "var", free_port(), environment={"CARESPACE_SMTP_URL": f"smtp://127.0.0.1:{port}"})
    try:
        with serve.client() as api:
            patient = api.post("/Patient", json={"resourceType": "Patient", "birthDate": "1980-05-05",
                                                 "name": [{"family": "Queued"}]}).json()["id"]
            invited = api.post(f"/Patient/{patient}/$invite", json={
                "resourceType": "Parameters", "parameter": [{"name": "email", "valueString": "queued@example.net"}]})
            assert invited.status_code == 200, invited.text
        assert relay.received == []  # still on its way when the server is told to stop
        assert serve.stop() == 0
        assert len(relay.received) == 1 and b"queued@example.net" in relay.received[0]
    finally:
        serve.stop(signal.SIGKILL)
        controller.stop()
