"""PKCE (RFC 7636). The S256 transform is authlib's (``create_s256_code_challenge``).

SMART App Launch 2.x: "Authorization servers SHALL support the S256 code_challenge_method"
and "SHALL NOT support the plain method"; so ``plain`` is refused at /auth/authorize and a
code without a challenge is never issued.
"""

from __future__ import annotations

import hmac
import re

from authlib.oauth2.rfc7636 import create_s256_code_challenge

from fhir_server.smart.errors import InvalidGrant, InvalidRequest

METHODS = ("S256",)
# RFC 7636 §4.1: code_verifier = 43*128unreserved
_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
_CHALLENGE = re.compile(r"^[A-Za-z0-9\-_]{43}$")


def check_challenge(challenge: str | None, method: str | None) -> str:
    """At /auth/authorize: a S256 challenge is required (RFC 7636 §4.4.1 → invalid_request)."""
    if not challenge:
        raise InvalidRequest("code_challenge is required (PKCE with S256).")
    if (method or "plain") not in METHODS:
        raise InvalidRequest("Only code_challenge_method=S256 is supported; 'plain' is refused.")
    if not _CHALLENGE.match(challenge):
        raise InvalidRequest("code_challenge is not a base64url SHA-256 value.")
    return challenge


def verify(verifier: str | None, challenge: str) -> None:
    """At /auth/token: RFC 7636 §4.6 — "If the values are not equal, an error response
    indicating 'invalid_grant' MUST be returned"."""
    if not verifier:
        raise InvalidRequest("code_verifier is required.")
    if not _VERIFIER.match(verifier):
        raise InvalidGrant("code_verifier is not 43 to 128 unreserved characters.")
    if not hmac.compare_digest(create_s256_code_challenge(verifier), challenge):
        raise InvalidGrant("code_verifier does not match the code_challenge.")
