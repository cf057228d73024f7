"""SMART Health Link fixtures: the server's own services (to create links as the portal does)
and the helpers to read a link and decrypt its file with a standard JOSE library."""

from __future__ import annotations

import base64
import json
import warnings
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fhir_server.access import Caller
from fhir_server.portal.caller import FULL_ACCESS
from fhir_server.services import Services, build_services
from fhir_server.shl import links
from tests.threaded import run_coroutine

with warnings.catch_warnings():  # authlib.jose is deprecated in favour of joserfc; it is still standard JOSE
    warnings.simplefilter("ignore")
    from authlib.jose import JsonWebEncryption

T = TypeVar("T")
PASSCODE = "Maple-Syrup-77"


def run(server: Any, work: Callable[[Services], Awaitable[T]]) -> T:
    """Run ``work`` with services on the test server's database (its own client, loop and thread)."""
    async def go() -> T:
        services = await build_services(server.settings)
        try:
            return await work(services)
        finally:
            await services.db.close()

    return run_coroutine(go())


def patient_caller(patient_id: str) -> Caller:
    return Caller(kind="patient", subject=f"test-{patient_id}", grants=FULL_ACCESS, patients=frozenset({patient_id}),
                  fhir_user=f"Patient/{patient_id}")


def send(server: Any, patient_id: str, start: str, end: str, *, days: int = 14,
         recipient: str = "dr.who@clinic.example.net") -> links.CreatedLink:
    from datetime import date

    async def work(services: Services) -> links.CreatedLink:
        return await links.create_link(services, patient_caller(patient_id), patient_id=patient_id,
                                       sent_by_name="Test Sender", recipient=recipient,
                                       start=date.fromisoformat(start), end=date.fromisoformat(end),
                                       notes="For the appointment", passcode=PASSCODE, days=days)

    return run(server, work)


def payload_of(shlink: str) -> dict[str, Any]:
    assert shlink.startswith("shlink:/")
    encoded = shlink[len("shlink:/"):]
    return json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))


def jose_decrypt(token: str, key_b64url: str) -> dict[str, Any]:
    """Decrypt with authlib's JOSE implementation (not ours)."""
    key = base64.urlsafe_b64decode(key_b64url + "=" * (-len(key_b64url) % 4))
    result = JsonWebEncryption().deserialize_compact(token, key)
    assert result["header"]["alg"] == "dir" and result["header"]["enc"] == "A256GCM"
    return json.loads(result["payload"])
