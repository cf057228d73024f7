"""Secure messaging: the Messages tab (``routes``), its pure rules (``threads``) and its FHIR
reads and writes (``records``). ``install`` adds the pages and the API-side write hooks."""

from __future__ import annotations

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    from fhir_server import messaging
    from fhir_server.portal.messages.routes import router

    app.include_router(router)
    messaging.register()
