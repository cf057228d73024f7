"""Observation $lastn — http://hl7.org/fhir/OperationDefinition/Observation-lastn

The latest ``max`` Observations of each code, per subject. The other parameters are the
Observation search parameters (``patient``/``subject``, ``category``, ``code``, ``date``…).
One indexed query: the search plan with ``_sort=-date`` (driven by the Patient compartment
through the (comp, date, _id) index when a patient is named), streamed newest first and
grouped as it goes; the first ``max`` of each group are the answer.

Groups are the portal's tests (its "latest result of each test"): the LOINC code when the
Observation has one, else its first coding, else its text. Like the portal, results
entered in error or cancelled are never the latest of anything.
"""

from __future__ import annotations

from typing import Any

from fhir_server.resources.errors import bad_request
from fhir_server.resources.search.includes import _resolve_chain
from fhir_server.resources.search.plan import Plan
from fhir_server.resources.search.query import parse
from fhir_server.resources.search.scope import SearchScope

LOINC = "http://loinc.org"
MAX_PER_CODE = 100
NOT_RESULTS = frozenset({"entered-in-error", "cancelled"})
# Result parameters have no meaning here: the operation decides order and size.
REFUSED = frozenset({"_sort", "_count", "_cursor", "_include", "_revinclude", "_summary", "_elements", "_total"})


def code_key(observation: dict[str, Any]) -> str:
    """The group of one Observation: its LOINC code, else its first coding, else its text."""
    concept = observation.get("code") or {}
    codings = [c for c in concept.get("coding") or [] if isinstance(c, dict) and c.get("code")]
    loinc = next((c["code"] for c in codings if c.get("system") == LOINC), None)
    if loinc:
        return f"{LOINC}|{loinc}"
    if codings:
        return f"{codings[0].get('system', '')}|{codings[0]['code']}"
    text = concept.get("text") or next((c.get("display") for c in concept.get("coding") or []
                                        if isinstance(c, dict) and c.get("display")), "")
    return f"text|{str(text).lower()}"


def parse_max(raw: str | None) -> int:
    if raw is None:
        return 1
    if not raw.isdigit() or int(raw) < 1:
        raise bad_request(f"max must be a positive whole number, not '{raw}'.", ["max"])
    return min(int(raw), MAX_PER_CODE)


async def lastn_plan(db: Any, params: list[tuple[str, str]], *, scope: SearchScope,
                     base_url: str) -> tuple[Plan, int]:
    """The search plan of a $lastn request (newest first) and its ``max``."""
    maxes = [v for k, v in params if k == "max"]
    if len(maxes) > 1:
        raise bad_request("max may be given once.", ["max"])
    limit = parse_max(maxes[0] if maxes else None)
    criteria = [(k, v) for k, v in params if k != "max"]
    for key, _ in criteria:
        if key.split(":")[0] in REFUSED:
            raise bad_request(f"$lastn decides the order and size of its answer: {key} is not allowed.", [key])
    named = any(k.split(":")[0].split(".")[0] in ("patient", "subject") for k, _ in criteria)
    if not named and scope.patients is None:
        raise bad_request("$lastn needs the subject: give patient= (or subject=).", ["patient"])
    base_url = base_url.rstrip("/")
    query = parse(["Observation"], [*criteria, ("_sort", "-date")], base_url=base_url, strict=True)
    for chain in query.chains:
        query.clauses.append(await _resolve_chain(db, chain, scope, base_url))
    return Plan("Observation", query, query.clauses, scope, None, base_url), limit


async def last_n(db: Any, params: list[tuple[str, str]], *, scope: SearchScope, base_url: str) -> list[dict[str, Any]]:
    """The answer's Observations: per subject, per code, newest first, at most ``max`` each."""
    plan, limit = await lastn_plan(db, params, scope=scope, base_url=base_url)
    if plan.empty:
        return []
    kept: dict[tuple[str, str], int] = {}
    found: list[dict[str, Any]] = []
    cursor = db["Observation"].find(plan.filter).sort(plan.mongo_sort(False)).batch_size(500)
    try:
        async for doc in cursor:
            resource = doc["res"]
            if resource.get("status") in NOT_RESULTS or not plan.matches(doc):
                continue
            group = (subject_of(resource), code_key(resource))
            if kept.get(group, 0) < limit:
                kept[group] = kept.get(group, 0) + 1
                found.append(resource)
    finally:
        await cursor.close()
    found.sort(key=lambda r: (subject_of(r), code_key(r)))  # stable: newest first inside a group
    return found


def subject_of(observation: dict[str, Any]) -> str:
    return str((observation.get("subject") or {}).get("reference", ""))
