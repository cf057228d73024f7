"""``create_app(settings)``: wires the three faces (FHIR API, SMART, portal) and the lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from fhir_server.config import Settings
from fhir_server.cors import ApiCors
from fhir_server.demo import load_demo_practice
from fhir_server.resources import http as fhir_http
from fhir_server.resources.errors import FhirError
from fhir_server.resources.routes import fhir_router
from fhir_server.services import build_services

log = logging.getLogger("carespace")


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/fhir")


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await build_services(settings)
        app.state.services = services
        if settings.demo:
            await load_demo_practice(services.store)
        announce = getattr(app.state, "on_ready", None)
        if announce:
            announce()
        try:
            yield
        finally:
            await services.db.close()

    app = FastAPI(title="CareSpace", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.include_router(fhir_router())

    async def on_fhir_error(request: Request, exc: Exception) -> Response:
        return await fhir_http.handle_fhir_error(request, exc)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        if _is_api(request):
            return await fhir_http.handle_http_error(request, exc)
        assert isinstance(exc, StarletteHTTPException)
        return Response(f"{exc.status_code}: {exc.detail}", status_code=exc.status_code,
                        media_type="text/plain")

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        return await fhir_http.handle_validation_error(request, exc)

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        return await fhir_http.handle_unexpected(request, exc)

    app.add_exception_handler(FhirError, on_fhir_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(Exception, on_unexpected)
    app.add_middleware(ApiCors)
    return app
