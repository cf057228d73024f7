"""Keyset paging of a search: the opaque ``_cursor`` and the sort key it holds.

Paging is keyset: the ``_cursor`` of a next/previous link carries the sort key
and ``_id`` of the page's last/first entry, so writes between pages cause no
duplicates and no gaps.  A sort value that is missing sorts as "" (first when
ascending, last when descending).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from .clause_base import bad
from .clause_date import _lu_key


def _encode_cursor(rtype: str, keys: list[Any], rid: str, direction: str) -> str:
    raw = json.dumps({"t": rtype, "k": keys, "i": rid, "d": direction}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(value: str) -> dict:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        cur = json.loads(raw)
        # Every part as this server writes it: a forged one must not reach the query as a 500.
        assert isinstance(cur, dict) and {"t", "k", "i", "d"} <= cur.keys()
        assert isinstance(cur["t"], str) and isinstance(cur["i"], str) and cur["d"] in ("n", "p")
        assert isinstance(cur["k"], list) and len(cur["k"]) <= 8 and all(isinstance(k, str) for k in cur["k"])
        return cur
    except Exception:
        raise bad("_cursor", "not a cursor issued by this server") from None


def _sort_key(doc: dict, sort: list[tuple[str, bool]]) -> list[Any]:
    out: list[Any] = []
    for p, _ in sort:
        if p == "_id":
            out.append(doc["_id"])
        elif p == "_lastUpdated":
            out.append(_lu_key(doc["lu"]) if doc.get("lu") else "")
        else:
            out.append(doc.get("idx", {}).get("srt", {}).get(p, "") or "")
    out.append(doc["_id"])
    return out


def _after(key: list[Any], bound: list[Any], dirs: list[bool]) -> bool:
    """Whether ``key`` comes strictly after ``bound`` in the (desc flags) order."""
    for a, b, desc in zip(key, bound, dirs, strict=False):
        if a == b:
            continue
        return (a < b) if desc else (a > b)
    return False

