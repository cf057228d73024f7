"""``/healthz`` (the process answers) and ``/readyz`` (the database answers and takes a write).

No authentication and no patient data: a load balancer or an orchestrator polls them every
second, so each check is bounded by a short client-side timeout.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pymongo
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pymongo.errors import PyMongoError

from fhir_server.db import SERVER_STATE

router = APIRouter(include_in_schema=False)

# Short enough for a one-second poll; long enough for a journaled write on a busy disk.
CHECK_TIMEOUT_S = 2.0
NO_STORE = {"Cache-Control": "no-store"}


@router.get("/healthz")
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"}, headers=NO_STORE)


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    services = getattr(request.app.state, "services", None)
    if services is None:
        # The lifespan sets services only after indexes and start-up work are done.
        return _not_ready("starting: indexes and start-up work are not finished")
    checks: dict[str, Any] = {"startup": "ok"}
    try:
        with pymongo.timeout(CHECK_TIMEOUT_S):
            await services.db.client.admin.command("ping")
            checks["database"] = "ok"
            # A journaled write (the client's write concern) proves the disk takes writes.
            await services.db[SERVER_STATE].update_one(
                {"_id": "readyz"}, {"$set": {"at": datetime.now(UTC)}}, upsert=True)
            checks["write"] = "ok"
    except PyMongoError as exc:
        failed = "write" if "database" in checks else "database"
        return _not_ready(f"{failed} check failed: {exc.__class__.__name__}", checks)
    return JSONResponse({"status": "ready", "checks": checks}, headers=NO_STORE)


def _not_ready(reason: str, checks: dict[str, Any] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"status": "not ready", "reason": reason}
    if checks:
        body["checks"] = checks
    return JSONResponse(body, status_code=503, headers=NO_STORE)
