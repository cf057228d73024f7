"""Rendering portal pages: one Jinja2 environment, one ``render`` that every page uses.

Every page gets the practice name, the signed-in account (when known), the CSRF field, and
security headers: no Referer leaves a portal page (links carry tokens), pages are not cached
or framed, and scripts and styles come only from ``/static``.
"""

from __future__ import annotations

from datetime import tzinfo
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup

from fhir_server import timefmt
from fhir_server.portal import csrf, forms
from fhir_server.portal.units import display_unit

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"

_loader = FileSystemLoader([TEMPLATES])
env = Environment(loader=_loader, autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)


def add_templates(folder: Path) -> None:
    """Another room's templates (the practice console's), searched after the portal's, so its
    pages can extend the portal's layout and include its pieces."""
    if str(folder) not in _loader.searchpath:
        _loader.searchpath.append(str(folder))


def zone_of(request: Request | None) -> tzinfo:
    """The practice's time zone (the server's when the app has no settings yet)."""
    services = getattr(request.app.state, "services", None) if request is not None else None
    return services.settings.zone if services else timefmt.zone_named(timefmt.server_zone_name())


# The shared formatters every template uses (the practice console's too): one date style, and
# UCUM units as lab reports print them ({{ "10*3/uL" | unit }} -> ×10³/µL).
@pass_context
def _day(ctx: Context, value: timefmt.Moment) -> str:
    return timefmt.day(value, zone_of(ctx.get("request")))


@pass_context
def _moment(ctx: Context, value: timefmt.Moment) -> str:
    return timefmt.moment(value, zone_of(ctx.get("request")))


@pass_context
def _time_tag(ctx: Context, value: timefmt.Moment, with_time: bool = False) -> Markup:
    return timefmt.time_tag(value, zone_of(ctx.get("request")), with_time=with_time)


env.filters.update(day=_day, moment=_moment, time_tag=_time_tag, unit=display_unit)
# Form errors, the same on every form: {{ error_summary(problems) }} and <input{{ invalid(problems, "id") }}>.
env.globals.update(error_summary=forms.error_summary, invalid=forms.invalid)

SECURITY_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
}


def render(request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    """A page from ``template`` (sync, so that the error handler can use it too)."""
    services = getattr(request.app.state, "services", None)
    settings = services.settings if services else None
    context.setdefault("account", getattr(request.state, "account", None))
    html = env.get_template(template).render(
        request=request,
        practice_name=settings.practice_name if settings else "CareSpace",
        practice_email=settings.practice_email if settings else "",
        csrf_field=csrf.field(request),
        **context,
    )
    response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
    csrf.attach(request, response, secure=bool(settings and settings.secure_cookies))
    return response


TITLES = {400: "That request did not work", 403: "Not allowed", 404: "Page not found",
          405: "Not allowed", 410: "No longer available", 500: "Something went wrong"}


def render_error_page(request: Request, status: int, message: str) -> Response:
    """The friendly HTML page for every portal error (``app.state.render_error_page``)."""
    if status == 404 and message in ("Not Found", ""):
        message = "We could not find that page. It may have moved, or the address may be mistyped."
    if status == 405:
        message = "That page cannot be used this way."
    title = TITLES.get(status, "That did not work" if status < 500 else "Something went wrong")
    return render(request, "errors/error.html", status=status, title=title, message=message, code=status)
