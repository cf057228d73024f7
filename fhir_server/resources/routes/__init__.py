"""The ``/fhir`` router. Order matters: literal paths before the generic type/id ones."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from fhir_server.resources.capabilities import capability_statement
from fhir_server.resources.http import FhirResponse
from fhir_server.resources.routes import bundles, export, history, instance, operations, searching
from fhir_server.services import Services


def fhir_router(*extra: APIRouter) -> APIRouter:
    """``extra`` routers (operations, bundles, SMART discovery) go before the generic paths."""
    router = APIRouter(prefix="/fhir")

    @router.get("/metadata")
    async def metadata(request: Request) -> Response:
        services: Services = request.app.state.services
        return FhirResponse(capability_statement(services.settings.base_url))

    for root in ("", "/"):
        router.add_api_route(root, searching.system_search, methods=["GET"], include_in_schema=False)
        router.add_api_route(root, bundles.post_bundle, methods=["POST"], include_in_schema=False)
    for sub in extra:
        router.include_router(sub)
    router.include_router(export.router)
    router.include_router(operations.router)
    router.include_router(history.router)
    router.include_router(searching.router)
    router.include_router(instance.router)
    return router
