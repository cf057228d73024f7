"""Shared helpers of the search tests: sample data and the stored document shape."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fhir_server.resources.search import index_resource, patient_compartments
from tests.support.shared_data import SHARED_DATA, require_shared_data

DATA = SHARED_DATA
BASE = "http://127.0.0.1:8080/fhir"


def need(path: Path) -> Path:
    return require_shared_data(path)


def load_json(rel: str) -> dict:
    return json.loads(need(DATA / rel).read_text())


def synthea_resources(n_patients: int) -> list[dict]:
    """Resources of the first ``n_patients`` Synthea bundles, urn:uuid references made relative."""
    files = sorted(need(DATA / "synthea").glob("*.json"))[:n_patients]
    out: list[dict] = []
    for f in files:
        bundle = json.loads(f.read_text())
        urls = {e["fullUrl"]: f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]}
        text = json.dumps([e["resource"] for e in bundle["entry"]])
        for urn, rel in urls.items():
            text = text.replace(f'"{urn}"', f'"{rel}"')
        out += json.loads(text)
    unique = {(r["resourceType"], r["id"]): r for r in out}
    return list(unique.values())


def stored(resource: dict, lu: datetime | None = None, vid: int = 1) -> dict[str, Any]:
    """The stored document of a current version, exactly as the store writes it."""
    lu = lu or datetime.now(UTC)
    res = dict(resource)
    res["meta"] = {**res.get("meta", {}), "versionId": str(vid),
                   "lastUpdated": lu.isoformat(timespec="milliseconds").replace("+00:00", "Z")}
    return {"_id": res["id"], "res": res, "vid": vid, "lu": lu,
            "comp": patient_compartments(res, BASE), "idx": index_resource(res, BASE)}
