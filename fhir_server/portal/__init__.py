"""The CareSpace portal: server-rendered pages for patients and their delegates."""

from __future__ import annotations

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    """Add the portal's routes, error pages and start-up work to the app."""
