"""Wire the authorization server into the app."""

from __future__ import annotations

from fastapi import FastAPI

from fhir_server.services import Services
from fhir_server.smart import authorize, discovery, introspect, launch, revoke, store, token
from fhir_server.smart.errors import OAuthError, handle_oauth_error


async def _ensure_indexes(services: Services) -> None:
    await store.ensure_indexes(services.db)


def install(app: FastAPI) -> None:
    """Add the SMART routes (discovery, authorize, token, introspect, revoke, jwks, launch)."""
    for router in (discovery.router, authorize.router, token.router, introspect.router, revoke.router,
                   launch.router):
        app.include_router(router)
    app.state.fhir_routers = [*getattr(app.state, "fhir_routers", []), discovery.fhir_router]
    app.state.startup_hooks.append(_ensure_indexes)
    app.add_exception_handler(OAuthError, handle_oauth_error)
