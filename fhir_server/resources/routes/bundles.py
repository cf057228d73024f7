"""``POST /fhir`` with a batch or transaction Bundle."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from fhir_server import audit
from fhir_server.resources.bundles import BundleProcessor
from fhir_server.resources.http import FhirResponse, read_json
from fhir_server.smart.bearer import CallerDep, ServicesDep


async def post_bundle(request: Request, caller: CallerDep, services: ServicesDep) -> Response:
    bundle = await read_json(request, services.settings.max_body_bytes)
    processor = BundleProcessor(services, caller)
    result = await processor.run(bundle if isinstance(bundle, dict) else {})
    await audit.record(services.store, caller, "transaction" if result["type"].startswith("transaction")
                       else "batch", patients=processor.touched_patients)
    return FhirResponse(result)
