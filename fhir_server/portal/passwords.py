"""The password policy and hashing (argon2id, OWASP ASVS 2.4).

A password needs at least 8 characters, an upper-case letter, a lower-case letter, a digit
and a special character. ``unmet_rules`` names each rule a password misses, in the order the
registration page lists them (the page's script checks the same rules as the patient types).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 8

RULES: list[tuple[str, str, Callable[[str], bool]]] = [
    ("length", f"At least {MIN_LENGTH} characters", lambda p: len(p) >= MIN_LENGTH),
    ("upper", "An upper-case letter (A–Z)", lambda p: any(c.isupper() for c in p)),
    ("lower", "A lower-case letter (a–z)", lambda p: any(c.islower() for c in p)),
    ("digit", "A digit (0–9)", lambda p: any(c.isdigit() for c in p)),
    ("special", "A special character, such as ! ? # or -",
     lambda p: any(not c.isalnum() and not c.isspace() for c in p)),
]
RULE_TEXT = {name: text for name, text, _ in RULES}

_hasher = PasswordHasher()  # argon2id with the library's (RFC 9106 low-memory) parameters
# Verified against when the email is unknown, so that both cases take the same time.
_DUMMY_HASH = _hasher.hash("not-a-real-password-Aa1!")


def unmet_rules(password: str) -> list[str]:
    """The names of the rules ``password`` does not meet (empty: acceptable)."""
    return [name for name, _, ok in RULES if not ok(password)]


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(stored: str | None, password: str) -> bool:
    """Constant work whether or not there is a stored hash."""
    return await asyncio.to_thread(_verify, stored, password)
