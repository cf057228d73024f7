"""Shaping the searchset Bundle: ``_summary`` and ``_elements`` subsetting
(search.html#summary, #elements), the entries, and the self/next/previous links.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from .definitions import params_for
from .query import Query

SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}


def _subset(res: dict, q: Query) -> dict:
    if q.elements:
        keep = {"resourceType", "id", "meta", *q.elements}
        res = {k: v for k, v in res.items() if k in keep}
    elif q.summary in ("true", "text", "data"):
        if q.summary == "data":
            res = {k: v for k, v in res.items() if k != "text"}
        elif q.summary == "text":
            res = {k: v for k, v in res.items() if k in ("resourceType", "id", "meta", "text", "status")}
        else:
            rtype = res.get("resourceType", "")
            keep = {"resourceType", "id", "meta", "implicitRules", "status", "identifier", "name", "code", "subject",
                    "patient", "category", "effectiveDateTime", "effectivePeriod", "valueQuantity", "intent",
                    "active", "gender", "birthDate", "type", "date", "period", "issued"}
            keep |= {p.split(".")[0].split("[")[0] for sp in params_for(rtype).values() for p in sp.paths}
            keep -= {"text", "contained", "content", "data", "extension", "modifierExtension", "component",
                     "payload", "note"}
            res = {k: v for k, v in res.items() if k in keep}
    else:
        return res
    meta = dict(res.get("meta") or {})
    meta["tag"] = [*meta.get("tag", []), SUBSETTED]
    res["meta"] = meta
    return res


def _entry(rtype: str, doc: dict, mode: str, q: Query, base_url: str) -> dict:
    return {"fullUrl": f"{base_url}/{rtype}/{doc['_id']}", "resource": _subset(doc["res"], q),
            "search": {"mode": mode}}


def matches(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """The resources a searchset matched (not those ``_include`` added)."""
    return [e["resource"] for e in bundle.get("entry", []) if e.get("search", {}).get("mode") == "match"]


def next_cursor(bundle: dict[str, Any]) -> str | None:
    """The ``_cursor`` of a searchset's next page, for code that follows the pages itself."""
    for link in bundle.get("link", []):
        if link.get("relation") == "next":
            return parse_qs(urlsplit(link["url"]).query).get("_cursor", [None])[0]
    return None


def _link(path: str, echo: list[tuple[str, str]], cursor: str | None) -> str:
    params = list(echo) + ([("_cursor", cursor)] if cursor else [])
    return f"{path}?{urlencode(params)}" if params else path
