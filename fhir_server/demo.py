"""The demo practice: loaded from ``fixtures/`` once, through the same store as the API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fhir_server.db import SERVER_STATE
from fhir_server.resources.store import ResourceStore
from fhir_server.resources.validation import validate

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def demo_accounts() -> list[dict[str, Any]]:
    accounts: list[dict[str, Any]] = json.loads((FIXTURES / "accounts.json").read_text())
    return accounts


async def load_demo_practice(store: ResourceStore) -> bool:
    """Load the demo bundle unless an earlier start did; returns whether it loaded now."""
    state = store.db[SERVER_STATE]
    if await state.find_one({"_id": "demo-practice"}):
        return False
    bundle = json.loads((FIXTURES / "practice.json").read_text())
    for entry in bundle["entry"]:
        resource = validate(entry["resource"])
        await store.update(resource, resource["id"])
    await state.insert_one({"_id": "demo-practice", "resources": len(bundle["entry"])})
    return True
