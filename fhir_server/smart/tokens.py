"""Access tokens: JWTs signed by the server key, checked on every FHIR request."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt

from fhir_server.smart.keys import ALGORITHM, SigningKey


class InvalidToken(Exception):
    """The bearer token is not one this server issued, or no longer valid."""


def issue_access_token(key: SigningKey, *, issuer: str, audience: str, subject: str,
                       scope: str, ttl: int, extra: dict[str, Any] | None = None,
                       now: float | None = None) -> tuple[str, dict[str, Any]]:
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "iss": issuer, "aud": audience, "sub": subject, "scope": scope,
        "iat": issued, "exp": issued + ttl, "jti": uuid.uuid4().hex,
        **(extra or {}),
    }
    token = jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})
    return token, claims


def verify_access_token(key: SigningKey, token: str, *, issuer: str, audience: str) -> dict[str, Any]:
    """Signature (our key, RS256 only: never ``none``), expiry, issuer and audience."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token, key.public_key, algorithms=[ALGORITHM], audience=audience,
            issuer=issuer, options={"require": ["exp", "iat", "sub", "scope", "jti"]})
    except jwt.ExpiredSignatureError:
        raise InvalidToken("The access token has expired.") from None
    except jwt.InvalidAudienceError:
        raise InvalidToken("The access token was issued for another audience.") from None
    except jwt.PyJWTError:
        raise InvalidToken("The access token is not valid.") from None
    return claims
