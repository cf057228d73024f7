"""The manifest (SMART Health Links, flag P): the right passcode gives the encrypted file; a
wrong one is counted and 5 lock the link; expired and revoked links say so; nothing about the
patient is revealed before the passcode is right; the server keeps no key and no plaintext."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fhir.resources.R4B.bundle import Bundle

from fhir_server.services import Services
from fhir_server.shl import links
from tests.shl.conftest import PASSCODE, jose_decrypt, patient_caller, payload_of, run, send

RECIPIENT = {"recipient": "Dr. Okafor, Lakeside Family Medicine"}


def _post(url: str, passcode: str, **extra: Any) -> httpx.Response:
    return httpx.post(url, json={**RECIPIENT, "passcode": passcode, **extra}, timeout=30)


def _revealed(response: httpx.Response) -> bool:
    text = response.text.lower()
    return any(word in text for word in ("jane", "doe", "robert", "chen", "files", "embedded", "patient/"))


def test_the_link_payload_follows_the_specification(server: Any) -> None:
    created = send(server, "jane-doe", "2024-01-01", "2024-12-31", days=7)
    payload = payload_of(created.shlink)
    assert set(payload) == {"url", "key", "exp", "flag", "label", "v"}
    assert payload["flag"] == "P" and payload["v"] == 1
    assert len(payload["key"]) == 43
    assert payload["url"].startswith(f"{server.url}/shl/manifest/")
    assert len(payload["url"].rsplit("/", 1)[1]) >= 43  # 32 random bytes
    assert len(payload["label"]) <= 80 and "Jane" not in payload["label"]
    assert abs(payload["exp"] - (datetime.now(UTC) + timedelta(days=7)).timestamp()) < 120
    assert created.viewer_url == f"{server.url}/shl/view#{created.shlink}"


def test_the_right_passcode_gives_a_file_that_a_standard_jose_library_decrypts(server: Any, db: Any) -> None:
    created = send(server, "jane-doe", "2024-01-01", "2024-12-31")
    payload = payload_of(created.shlink)
    response = _post(payload["url"], PASSCODE)
    assert response.status_code == 200, response.text
    files = response.json()["files"]
    assert [f["contentType"] for f in files] == ["application/fhir+json"]
    bundle = jose_decrypt(files[0]["embedded"], payload["key"])
    Bundle.model_validate(bundle)
    assert bundle == created.contents.bundle
    stored = db[links.LINKS].find_one({"_id": created.record.id})
    assert stored["opened_at"] is not None and stored["failures"] == 0
    # At rest: ciphertext and a hash, never the key, the passcode or the plaintext.
    flat = str(stored)
    assert payload["key"] not in flat and PASSCODE not in flat and "jane-doe" not in stored["jwe"]
    assert stored["passcode_hash"].startswith("$argon2id$")
    assert payload["url"].rsplit("/", 1)[1] not in flat
    # The same link can be opened again.
    assert _post(payload["url"], PASSCODE).status_code == 200


def test_a_large_file_is_offered_by_location(server: Any) -> None:
    created = send(server, "jane-doe", "2024-01-01", "2024-12-31")
    payload = payload_of(created.shlink)
    response = _post(payload["url"], PASSCODE, embeddedLengthMax=100)
    assert response.status_code == 200, response.text
    location = response.json()["files"][0]["location"]
    fetched = httpx.get(location, timeout=30)
    assert fetched.status_code == 200
    assert fetched.headers["content-type"].startswith("application/jose")
    assert jose_decrypt(fetched.text, payload["key"])["type"] == "collection"
    assert httpx.get(f"{server.url}/shl/file/not-a-token", timeout=30).status_code == 404


def test_five_wrong_passcodes_lock_the_link(server: Any, db: Any) -> None:
    recipient = f"dr.{uuid.uuid4().hex[:8]}@clinic.example.net"  # this link's own audit trail
    created = send(server, "jane-doe", "2024-01-01", "2024-12-31", recipient=recipient)
    url = payload_of(created.shlink)["url"]
    for left in (4, 3, 2, 1, 0):
        response = _post(url, "Wrong-Guess-1")
        assert response.status_code == 401
        assert response.json()["remainingAttempts"] == left
        assert not _revealed(response)
    locked = _post(url, PASSCODE)
    assert locked.status_code == 404
    assert locked.json()["error"] == "locked"
    assert "send the record again" in locked.json()["message"]
    assert not _revealed(locked)
    stored = db[links.LINKS].find_one({"_id": created.record.id})
    assert "jwe" not in stored  # nothing left to decrypt
    mine = f"^SMART Health Link to {re.escape(recipient)}: "
    events = list(db["AuditEvent"].find({"res.outcomeDesc": {"$regex": mine}}))
    wrong = [e for e in events if ": wrong password" in e["res"]["outcomeDesc"]]
    assert len(wrong) == 5 and all(e["res"]["outcome"] == "4" for e in wrong)
    assert len(events) == 6  # and the refused right passcode on the locked link
    assert all(e["res"]["entity"][0]["what"]["reference"] == "Patient/jane-doe" for e in events)


def test_the_right_passcode_after_wrong_ones_still_opens(server: Any) -> None:
    created = send(server, "jane-doe", "2024-01-01", "2024-12-31")
    url = payload_of(created.shlink)["url"]
    for _ in range(4):
        assert _post(url, "nope").status_code == 401
    assert _post(url, PASSCODE).status_code == 200
    assert _post(url, "nope").json()["remainingAttempts"] == 0


def test_an_expired_link_answers_as_expired(server: Any, db: Any) -> None:
    created = send(server, "jane-doe", "2024-01-01", "2024-12-31", days=1)
    db[links.LINKS].update_one({"_id": created.record.id},
                               {"$set": {"expires": datetime.now(UTC) - timedelta(minutes=1)}})
    response = _post(payload_of(created.shlink)["url"], PASSCODE)
    assert response.status_code == 404
    assert response.json()["error"] == "expired"
    assert not _revealed(response)
    assert "jwe" not in db[links.LINKS].find_one({"_id": created.record.id})


def test_a_revoked_link_answers_as_revoked(server: Any, db: Any) -> None:
    recipient = f"dr.{uuid.uuid4().hex[:8]}@clinic.example.net"
    created = send(server, "jane-doe", "2024-01-01", "2024-12-31", recipient=recipient)

    async def revoke(services: Services) -> tuple[bool, bool]:
        other = await links.revoke(services, patient_caller("robert-chen"), "robert-chen", created.record.id)
        own = await links.revoke(services, patient_caller("jane-doe"), "jane-doe", created.record.id)
        return other, own

    assert run(server, revoke) == (False, True)  # another patient cannot revoke it
    response = _post(payload_of(created.shlink)["url"], PASSCODE)
    assert response.status_code == 404
    assert response.json()["error"] == "revoked"
    assert not _revealed(response)
    revoked = f"SMART Health Link sent to {recipient} revoked"
    assert db["AuditEvent"].count_documents({"res.outcomeDesc": revoked}) == 1  # once: the refused try wrote none


def test_unknown_links_and_bad_requests(server: Any) -> None:
    unknown = _post(f"{server.url}/shl/manifest/{'x' * 43}", PASSCODE)
    assert unknown.status_code == 404 and unknown.json()["error"] == "not-found"
    created = send(server, "jane-doe", "2024-01-01", "2024-12-31")
    url = payload_of(created.shlink)["url"]
    assert httpx.post(url, json={"passcode": PASSCODE}, timeout=30).status_code == 400  # recipient is required
    assert httpx.post(url, content=b"not json", timeout=30).status_code == 400
    assert httpx.post(url, json={**RECIPIENT}, timeout=30).status_code == 400


def test_the_manifest_answers_cors_for_other_viewers(server: Any) -> None:
    created = send(server, "jane-doe", "2024-01-01", "2024-12-31")
    response = httpx.post(payload_of(created.shlink)["url"], json={**RECIPIENT, "passcode": PASSCODE},
                          headers={"Origin": "https://viewer.example.com"}, timeout=30)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert "set-cookie" not in response.headers
