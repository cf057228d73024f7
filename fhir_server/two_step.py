"""Two-step sign-in with a one-time code (TOTP, RFC 6238), shared by the patient portal and the
practice console.

An account that has turned it on carries a ``two_step`` subdocument::

    {"secret": <the base32 TOTP secret, sealed with AES-GCM>,
     "last_step": <the 30-second step of the last code accepted>,
     "recovery": [<SHA-256 of each unused recovery code>],
     "enabled": <datetime>}

The secret must be readable to check a code, so it cannot be hashed; it is sealed under a key
derived (HKDF) from the server's signing key, so a copy of the database alone does not reveal it
(and the signing key is what operators already keep safe). A code is accepted once: the step it
belongs to is written with a conditional update, so a replay, or two requests racing with one
code, fail. Recovery codes are random, so a SHA-256 hash is enough, and each is pulled out of the
list by the update that accepts it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from typing import Any

import pyotp
import segno
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pymongo.asynchronous.collection import AsyncCollection

from fhir_server.smart.keys import SigningKey

RECOVERY_CODES = 10
# One step either side: phones whose clocks drift by up to 30 s still sign in.
VALID_WINDOW = 1
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread


@dataclass(frozen=True)
class SecretBox:
    """Seals and opens TOTP secrets with a key derived from the server's signing key."""

    key: bytes

    @classmethod
    def from_signing_key(cls, signing_key: SigningKey) -> SecretBox:
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"carespace two-step secrets")
        return cls(hkdf.derive(signing_key.private_pem))

    def seal(self, secret: str) -> str:
        nonce = os.urandom(12)
        sealed = AESGCM(self.key).encrypt(nonce, secret.encode("ascii"), b"totp")
        return base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, sealed: str) -> str:
        raw = base64.urlsafe_b64decode(sealed.encode("ascii"))
        return AESGCM(self.key).decrypt(raw[:12], raw[12:], b"totp").decode("ascii")


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, account_name: str, issuer: str) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=account_name, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The QR code as inline SVG, drawn here: the secret never goes to a QR service."""
    return segno.make(uri, error="m").svg_inline(scale=5, dark="#1f2937", light="#ffffff")


def current_code(secret: str, at: float | None = None) -> str:
    """The code an authenticator shows now (tests and the set-up page's first check use it)."""
    return pyotp.TOTP(secret).at(int(at if at is not None else time.time()))


def matching_step(secret: str, code: str, at: float | None = None) -> int | None:
    """The time step within the window whose code is ``code``, or None."""
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    now_step = int((at if at is not None else time.time()) // totp.interval)
    for step in range(now_step - VALID_WINDOW, now_step + VALID_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def new_recovery_codes() -> list[str]:
    """Ten single-use codes like ``k7mq-x2pd-9f``, shown to the person once."""
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:4]}-{raw[4:8]}-{raw[8:]}")
    return codes


def hash_recovery_code(code: str) -> str:
    normalised = code.strip().lower().replace(" ", "").replace("-", "")
    return hashlib.sha256(f"carespace-recovery:{normalised}".encode()).hexdigest()


def enrolment(box: SecretBox, secret: str, recovery_codes: list[str], now: Any) -> dict[str, Any]:
    """The ``two_step`` subdocument to store once the person has confirmed a first code."""
    return {
        "secret": box.seal(secret),
        "last_step": 0,
        "recovery": [hash_recovery_code(c) for c in recovery_codes],
        "enabled": now,
    }


def is_enabled(account_doc: dict[str, Any]) -> bool:
    """Whether the account signs in with a code too (``enabled`` is set with the sealed secret)."""
    return bool((account_doc.get("two_step") or {}).get("enabled"))


async def accept(collection: AsyncCollection, account_id: str, box: SecretBox, code: str) -> bool:
    """True once ``code`` (a current TOTP code or an unused recovery code) is accepted for the
    account; a code is never accepted twice."""
    doc = await collection.find_one({"_id": account_id}, {"two_step": 1})
    two_step = (doc or {}).get("two_step") or {}
    if not two_step.get("secret"):
        return False
    step = matching_step(box.open(two_step["secret"]), code)
    if step is not None:
        result = await collection.update_one(
            {"_id": account_id, "two_step.last_step": {"$lt": step}},
            {"$set": {"two_step.last_step": step}},
        )
        return result.modified_count == 1
    hashed = hash_recovery_code(code)
    result = await collection.update_one(
        {"_id": account_id, "two_step.recovery": hashed},
        {"$pull": {"two_step.recovery": hashed}},
    )
    return result.modified_count == 1
