"""Rendering console pages: the portal's ``render`` (its CSRF field, security headers and
error pages), with the console's templates and the signed-in staff member."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from fhir_server.portal import pages

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"
pages.add_templates(TEMPLATES)


def render(request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("console", getattr(request.state, "console", None))
    return pages.render(request, f"practice/{template}", status=status, account=None, **context)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303,
                            headers={"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"})
