"""OAuth 2.0 errors (RFC 6749 §5.2): one class per error code, rendered as JSON in one place.

"The authorization server responds with an HTTP 400 (Bad Request) status code (unless
specified otherwise) and includes the following parameters with the response: error,
error_description" — RFC 6749 §5.2. Responses carry ``Cache-Control: no-store``.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse, Response

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class OAuthError(Exception):
    error = "invalid_request"
    status = 400

    def __init__(self, description: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.headers = headers or {}

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


class InvalidRequest(OAuthError):
    error = "invalid_request"


class InvalidClient(OAuthError):
    """RFC 6749 §5.2: "The authorization server MAY return an HTTP 401 (Unauthorized)"."""

    error = "invalid_client"
    status = 401


class InvalidGrant(OAuthError):
    error = "invalid_grant"


class TooManyAttempts(OAuthError):
    """Brute force on the token endpoint: refused with 429 and Retry-After until the lock ends."""

    error = "invalid_client"
    status = 429


class UnauthorizedClient(OAuthError):
    error = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"


class InvalidScope(OAuthError):
    error = "invalid_scope"


class AccessDenied(OAuthError):
    error = "access_denied"
    status = 403


class UnsupportedResponseType(OAuthError):
    error = "unsupported_response_type"


class UnsupportedTokenType(OAuthError):
    """RFC 7009 §2.2.1."""

    error = "unsupported_token_type"


class InvalidToken(OAuthError):
    """RFC 6750 §3.1, for endpoints that take a bearer token (introspection, launch)."""

    error = "invalid_token"
    status = 401


def render(exc: OAuthError) -> Response:
    headers = {**NO_STORE, **exc.headers}
    if exc.status == 401 and "WWW-Authenticate" not in headers:
        scheme = "Bearer" if isinstance(exc, InvalidToken) else "Basic"
        headers["WWW-Authenticate"] = f'{scheme} realm="CareSpace", error="{exc.error}"'
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


async def handle_oauth_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OAuthError)
    return render(exc)
