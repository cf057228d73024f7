"""The application's HTTP routes, as (methods, full path), for tests that must cover every one."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import FastAPI
from fastapi.routing import APIRoute

from fhir_server.app import create_app
from fhir_server.config import Settings


def _walk(routes: list) -> Iterator[tuple[frozenset[str], str]]:  # type: ignore[type-arg]
    for route in routes:
        if isinstance(route, APIRoute):
            yield frozenset(route.methods), route.path
        elif hasattr(route, "effective_route_contexts"):  # FastAPI ≥ 0.160 keeps included routers lazily
            for context in route.effective_route_contexts():
                if isinstance(context.original_route, APIRoute):
                    yield frozenset(context.original_route.methods), context.path


def app_routes(app: FastAPI | None = None) -> list[tuple[frozenset[str], str]]:
    """Every API route of ``app`` (by default a fresh app: building one starts nothing)."""
    app = app or create_app(Settings(base_url="http://127.0.0.1:1", demo=False))
    return list(_walk(app.routes))
