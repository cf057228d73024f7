"""Sent records as SMART Health Links: create, list, revoke, and the manifest's passcode check.

What the server keeps of a link: the JWE ciphertext (never the key, never the plaintext),
the argon2id hash of the passcode, the count of wrong passcodes, the expiry, the recipient's
email, the period and notes, whether it was opened, whether it was revoked. The manifest id
in the URL is 32 random bytes and is stored only as its SHA-256.

A wrong passcode is charged *before* the (slow) hash check, with an atomic ``$inc`` that
stops at the limit, so that parallel guesses cannot get more than ``MAX_ATTEMPTS`` tries;
the right passcode gives its charge back. Once locked, revoked or expired, the ciphertext
is dropped: nothing remains that anyone could decrypt, even with the link.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel

from fhir_server import audit
from fhir_server.access import Caller
from fhir_server.db import Database, claim
from fhir_server.portal import passwords
from fhir_server.resources.store import instant
from fhir_server.services import Services
from fhir_server.shl import jwe
from fhir_server.shl.bundle import RecordBundle, build_record, sender_note

LINKS = "shl_links"
FILES = "shl_files"
MAX_ATTEMPTS = 5
EXPIRY_DAYS = (14, 7, 3, 1)
FILE_LIFETIME = timedelta(hours=1)
MAX_CIPHERTEXT = 12 * 1024 * 1024  # stays well inside a 16 MB MongoDB document
_indexed: set[int] = set()


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def ensure_indexes(db: Database) -> None:
    if id(db) in _indexed:
        return
    await db[LINKS].create_indexes([IndexModel([("manifest", ASCENDING)], unique=True),
                                    IndexModel([("patient", ASCENDING), ("created", DESCENDING)])])
    await db[FILES].create_indexes([IndexModel([("expires", ASCENDING)], expireAfterSeconds=0)])
    _indexed.add(id(db))


class TooLarge(Exception):
    """The encrypted record is too large to keep; a shorter period will fit."""


@dataclass(frozen=True)
class SentRecord:
    """One row of the patient's list of sent records."""

    id: str
    recipient: str
    start: str
    end: str
    notes: str
    sent_by: str
    created: datetime
    expires: datetime
    opened_at: datetime | None
    revoked_at: datetime | None
    locked: bool

    def status(self, now: datetime) -> str:
        if self.revoked_at:
            return "revoked"
        if self.locked:
            return "locked"
        return "expired" if now >= self.expires else "active"


def _sent(doc: dict[str, Any]) -> SentRecord:
    return SentRecord(id=doc["_id"], recipient=doc["recipient"], start=doc["start"], end=doc["end"],
                      notes=doc.get("notes", ""), sent_by=doc.get("sent_by_name", ""), created=doc["created"],
                      expires=doc["expires"], opened_at=doc.get("opened_at"), revoked_at=doc.get("revoked_at"),
                      locked=doc.get("failures", 0) >= MAX_ATTEMPTS)


@dataclass(frozen=True)
class CreatedLink:
    record: SentRecord
    shlink: str  # "shlink:/…": carries the key; mailed, never stored
    viewer_url: str
    contents: RecordBundle


def label_for(practice_name: str, start: date, end: date) -> str:
    """The link's label (at most 80 characters, as the spec allows); no patient detail in it."""
    tail = f", {start:%b} {start.day}, {start.year} to {end:%b} {end.day}, {end.year}"  # the portal's date style
    return f"Health record from {practice_name}"[:80 - len(tail)] + tail


async def create_link(services: Services, caller: Caller, *, patient_id: str, sent_by_name: str, recipient: str,
                      start: date, end: date, notes: str, passcode: str, days: int) -> CreatedLink:
    """Build the period's Bundle, encrypt it under a new key, store the ciphertext and return the
    link (raises bundle.EmptyPeriod, TooLarge)."""
    db, now, settings = services.db, services.store.clock(), services.settings
    await ensure_indexes(db)
    note = sender_note(patient_id, caller, sent_by_name, notes, instant(now)) if notes else None
    contents = await build_record(services, caller, patient_id, start, end, note=note)
    key = jwe.new_key()
    ciphertext = jwe.encrypt(json.dumps(contents.bundle, separators=(",", ":")).encode(), key)
    if len(ciphertext) > MAX_CIPHERTEXT:
        raise TooLarge()
    manifest_id = secrets.token_urlsafe(32)
    expires = now + timedelta(days=days)
    doc = {
        "_id": uuid.uuid4().hex, "manifest": digest(manifest_id), "patient": patient_id,
        "sent_by": caller.who(), "sent_by_name": sent_by_name, "recipient": recipient,
        "start": start.isoformat(), "end": end.isoformat(), "notes": notes,
        "passcode_hash": await passwords.hash_password(passcode), "failures": 0,
        "created": now, "expires": expires, "opened_at": None, "revoked_at": None, "jwe": ciphertext,
    }
    await db[LINKS].insert_one(doc)
    base = settings.base_url.rstrip("/")
    payload = {"url": f"{base}/shl/manifest/{manifest_id}", "key": jwe.b64url(key),
               "exp": int(expires.timestamp()), "flag": "P", "label": label_for(settings.practice_name, start, end),
               "v": 1}
    shlink = "shlink:/" + jwe.b64url(json.dumps(payload, separators=(",", ":")).encode())
    await audit.record(services.store, caller, "create", patients=[patient_id], entities=contents.entities,
                       description=f"Record of {start} to {end} sent as a SMART Health Link to {recipient}")
    return CreatedLink(record=_sent(doc), shlink=shlink, viewer_url=f"{base}/shl/view#{shlink}", contents=contents)


async def list_sent(db: Database, patient_id: str) -> list[SentRecord]:
    await ensure_indexes(db)
    cursor = db[LINKS].find({"patient": patient_id}, projection={"jwe": 0, "passcode_hash": 0},
                            sort=[("created", DESCENDING)], limit=200)
    return [_sent(doc) async for doc in cursor]


async def revoke(services: Services, caller: Caller, patient_id: str, record_id: str) -> bool:
    """Revoke one of this patient's links (False: no such active link of theirs)."""
    done = await claim(services.db[LINKS], {"_id": record_id, "patient": patient_id, "revoked_at": None},
                       {"$set": {"revoked_at": services.store.clock()}, "$unset": {"jwe": ""}})
    if done is None:
        return False
    await audit.record(services.store, caller, "update", patients=[patient_id],
                       description=f"SMART Health Link sent to {done['recipient']} revoked")
    return True


# -- the recipient's side: the manifest ------------------------------------------------------

class ManifestRefused(Exception):
    """The manifest request is refused: ``status`` and the JSON ``body`` to answer."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("error"))
        self.status = status
        self.body = body


REFUSALS = {
    "not-found": "This link is not known. Check that the whole link from the email was opened.",
    "expired": "This link has expired. Ask the patient to send the record again.",
    "revoked": "The patient has withdrawn this link. Ask the patient to send the record again if you still need it.",
    "locked": "This link is locked after too many wrong passwords. Ask the patient to send the record again.",
}


def _refused(reason: str, status: int = 404, **extra: Any) -> ManifestRefused:
    return ManifestRefused(status, {"error": reason, "message": REFUSALS[reason], **extra})


def recipient_caller(patient_id: str) -> Caller:
    """Who an AuditEvent names for a manifest request: the link's recipient, not a user."""
    return Caller(kind="recipient", subject="smart-health-link-recipient", grants=(),
                  patients=frozenset({patient_id}))


async def _audit_attempt(services: Services, doc: dict[str, Any], recipient: str, outcome: str, what: str) -> None:
    await audit.record(services.store, recipient_caller(doc["patient"]), "read", patients=[doc["patient"]],
                       outcome=outcome, description=f"SMART Health Link to {doc['recipient']}: {what} "
                                                    f"(recipient says: {recipient[:100]})")


async def open_manifest(services: Services, manifest_id: str, *, passcode: str, recipient: str,
                        embedded_max: int | None = None) -> dict[str, Any]:
    """The manifest for the right passcode; ManifestRefused otherwise (401 with
    ``remainingAttempts`` for a wrong one, 404 for unknown, expired, revoked or locked)."""
    db, now = services.db, services.store.clock()
    await ensure_indexes(db)
    doc = await db[LINKS].find_one({"manifest": digest(manifest_id)}, projection={"passcode_hash": 0, "jwe": 0})
    if doc is None:
        raise _refused("not-found")
    reason = ("revoked" if doc.get("revoked_at") else "locked" if doc.get("failures", 0) >= MAX_ATTEMPTS
              else "expired" if now >= doc["expires"] else None)
    if reason:
        if reason == "expired":
            await db[LINKS].update_one({"_id": doc["_id"]}, {"$unset": {"jwe": ""}})
        await _audit_attempt(services, doc, recipient, "minor", f"refused, the link is {reason}")
        raise _refused(reason)
    charged = await claim(db[LINKS], {"_id": doc["_id"], "failures": {"$lt": MAX_ATTEMPTS}, "revoked_at": None},
                          {"$inc": {"failures": 1}})
    if charged is None:
        raise _refused("locked")
    if not await passwords.verify_password(charged.get("passcode_hash"), passcode):
        remaining = MAX_ATTEMPTS - charged["failures"]
        if remaining <= 0:
            await db[LINKS].update_one({"_id": doc["_id"]}, {"$unset": {"jwe": ""}, "$set": {"locked_at": now}})
        await _audit_attempt(services, doc, recipient, "minor",
                             f"wrong password, {remaining} attempt(s) left" if remaining else "wrong password, locked")
        raise ManifestRefused(401, {"remainingAttempts": remaining,
                                    "error": "wrong-passcode" if remaining else "locked",
                                    "message": "That password is not right." if remaining else REFUSALS["locked"]})
    await db[LINKS].update_one({"_id": doc["_id"]}, {"$inc": {"failures": -1}})
    await db[LINKS].update_one({"_id": doc["_id"], "opened_at": None}, {"$set": {"opened_at": now}})
    ciphertext = charged.get("jwe")
    if not ciphertext:
        raise _refused("expired")
    await _audit_attempt(services, doc, recipient, "success", "opened with the right password")
    file: dict[str, Any] = {"contentType": "application/fhir+json"}
    if embedded_max is not None and len(ciphertext) > embedded_max:
        token = secrets.token_urlsafe(32)
        await db[FILES].insert_one({"_id": digest(token), "link": doc["_id"], "expires": now + FILE_LIFETIME})
        file["location"] = f"{services.settings.base_url.rstrip('/')}/shl/file/{token}"
    else:
        file["embedded"] = ciphertext
    return {"files": [file]}


async def read_file(services: Services, token: str) -> str | None:
    """The ciphertext behind a manifest's short-lived ``location`` (None: unknown or gone)."""
    db, now = services.db, services.store.clock()
    entry = await db[FILES].find_one({"_id": digest(token)})
    if entry is None or entry["expires"] <= now:
        return None
    doc = await db[LINKS].find_one({"_id": entry["link"]}, projection={"jwe": 1, "revoked_at": 1, "expires": 1})
    if doc is None or doc.get("revoked_at") or now >= doc["expires"]:
        return None
    return doc.get("jwe")
