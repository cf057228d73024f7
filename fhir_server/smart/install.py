"""Wire the authorization server into the app."""

from __future__ import annotations

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    """Add the SMART routes (discovery, authorize, token, introspect, revoke, jwks)."""
