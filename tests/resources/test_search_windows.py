"""Date-sorted pages read in time windows (search/windows.py) give exactly one query's order.

A patient's Observations are laid out to hit the windows' edges: ties on one date (at two
precisions), resources without the date, a dense recent year, sparse decades, one in the
future; every page is walked forward and back and compared with the order computed here.
"""

from __future__ import annotations

import itertools
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from pymongo import AsyncMongoClient, MongoClient, monitoring

from fhir_server.resources.search import SearchScope, index_models, search
from fhir_server.resources.search.encoding import HIGH
from fhir_server.resources.search.windows import FLOOR, HINTS, MAX_WINDOWS, windows
from tests.resources.search_fixtures import BASE, stored
from tests.threaded import run_coroutine

ALL = SearchScope()
NOW = datetime.now(UTC).replace(microsecond=0)


def _obs(pid: str, when: str | None, lab: bool) -> dict:
    res: dict[str, Any] = {
        "resourceType": "Observation", "id": f"w-{uuid.uuid4().hex[:12]}", "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                  "code": "laboratory" if lab else "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
        "subject": {"reference": f"Patient/{pid}"}}
    if when is not None:
        res["effectiveDateTime"] = when
    return res


def _layout(pid: str) -> list[dict]:
    rng = random.Random(12)
    whens: list[str | None] = []
    whens += ["2020-06-01"] * 4 + ["2020-06-01T00:00:00Z"] * 3  # ties, two precisions, one key
    whens += [None] * 5  # no date: "" sorts last descending, first ascending
    whens += [(NOW - timedelta(hours=rng.randint(1, 24 * 300))).isoformat().replace("+00:00", "Z")
              for _ in range(40)]  # the dense recent months
    whens += [f"{y}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}T08:00:00Z" for y in range(1975, 2020, 3)]  # sparse
    whens += ["1890-01-01", "2100-01-01T00:00:00Z"]  # before the windows' floor; in the future
    whens += [(NOW - timedelta(days=30)).isoformat().replace("+00:00", "Z")] * 2  # around the first edge
    return [_obs(pid, w, lab=i % 3 != 0) for i, w in enumerate(whens)]


@pytest.fixture(scope="module")
def db(mongo_uri: str) -> Iterator[dict[str, Any]]:
    name = "windows_" + uuid.uuid4().hex[:10]
    client: MongoClient = MongoClient(mongo_uri, tz_aware=True)
    pid, other = "wp-" + uuid.uuid4().hex[:8], "wq-" + uuid.uuid4().hex[:8]
    docs = [stored(r) for r in _layout(pid) + _layout(other)]
    client[name].Observation.create_indexes(index_models("Observation"))
    client[name].Observation.insert_many(docs)
    try:
        yield {"uri": mongo_uri, "name": name, "pid": pid, "docs": [d for d in docs if pid in d["comp"]]}
    finally:
        client.drop_database(name)
        client.close()


class _Returned(monitoring.CommandListener):
    """Counts the documents the database returned to find/getMore."""

    def __init__(self) -> None:
        self.docs = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        cursor = event.reply.get("cursor") if event.command_name in ("find", "getMore") else None
        if cursor:
            self.docs += len(cursor.get("firstBatch", cursor.get("nextBatch", [])))

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def _search(db: dict, params: list[tuple[str, str]], listener: _Returned | None = None) -> dict:
    async def go() -> dict:
        client: AsyncMongoClient = AsyncMongoClient(db["uri"], tz_aware=True,
                                                    event_listeners=[listener] if listener else [])
        try:
            return await search(client[db["name"]], "Observation", params, base_url=BASE, scope=ALL)
        finally:
            await client.close()

    return run_coroutine(go())


def _link(bundle: dict, rel: str) -> list[tuple[str, str]] | None:
    url = next((lk["url"] for lk in bundle["link"] if lk["relation"] == rel), None)
    return parse_qsl(urlsplit(url).query) if url else None


def _expected(db: dict, desc: bool, lab_only: bool) -> list[str]:
    docs = [d for d in db["docs"] if not lab_only or d["idx"]["tok"].count("category\x1fc:laboratory")]
    docs.sort(key=lambda d: (d["idx"]["srt"]["date"], d["_id"]), reverse=desc)
    return [d["_id"] for d in docs]


@pytest.mark.parametrize("sort", ["-date", "date"])
@pytest.mark.parametrize("count", [1, 4, 50])
@pytest.mark.parametrize("lab_only", [False, True])
@pytest.mark.parametrize("warm", [False, True])
def test_pages_forward_and_back_in_exact_order(db: dict, sort: str, count: int, lab_only: bool, warm: bool) -> None:
    params = [("patient", db["pid"]), ("_sort", sort), ("_count", str(count))]
    if lab_only:
        params.append(("category", "laboratory"))
    want = _expected(db, sort.startswith("-"), lab_only)
    HINTS.clear()  # cold: the first page in one query; warm: in windows from the newest date seen
    if warm:
        _search(db, params)
    pages, bundle = [], _search(db, params)
    while True:
        got = [e["resource"]["id"] for e in bundle.get("entry", [])]
        assert 0 < len(got) <= count
        pages.append(got)
        nxt = _link(bundle, "next")
        if nxt is None:
            break
        bundle = _search(db, nxt)
    assert [i for p in pages for i in p] == want
    # …and back from the last page, through every previous link, to the first.
    back = [pages[-1]]
    while (prev := _link(bundle, "previous")) is not None:
        bundle = _search(db, prev)
        back.append([e["resource"]["id"] for e in bundle.get("entry", [])])
    assert back[::-1] == pages


def test_a_recent_page_reads_its_windows_not_the_compartment(db: dict) -> None:
    params = [("patient", db["pid"]), ("_sort", "-date"), ("_count", "3")]
    HINTS.clear()
    cold, warm = _Returned(), _Returned()
    first = _search(db, params, cold)
    again = _search(db, params, warm)
    want = _expected(db, True, False)[:3]
    assert [e["resource"]["id"] for e in first["entry"]] == want == [e["resource"]["id"] for e in again["entry"]]
    assert cold.docs == len(db["docs"]), "a first look reads the compartment in one query"
    assert warm.docs < len(db["docs"]) / 2, f"read {warm.docs} of {len(db['docs'])}"
    nxt = _search(db, _link(again, "next") or [], _Returned())
    assert [e["resource"]["id"] for e in nxt["entry"]] == _expected(db, True, False)[3:6]


def test_windows_partition_the_range() -> None:
    """Adjacent, never overlapping, open at the far end, whatever each window found."""
    field = "idx.srt.date"
    now = datetime(2026, 11, 28, 12, 0)
    for found_after in (lambda n: 0, lambda n: 30, lambda n: min(n, 49)):  # the last: one more a window
        steps = windows(field, None, True, now)
        conds = [next(steps)[field]]
        while True:
            try:
                conds.append(steps.send((found_after(len(conds)), 50))[field])
            except StopIteration:
                break
        assert len(conds) <= MAX_WINDOWS, "a page's round trips are bounded"
        assert "$lt" not in conds[0] and conds[0]["$gte"] == "2026-10-29T12:00:00.000Z"
        for newer, older in itertools.pairwise(conds):
            assert older["$lt"] == newer["$gte"]
        assert "$gte" not in conds[-1] and len(conds) < 40
        assert all(c["$gte"] > FLOOR.isoformat() for c in conds[:-1])
    steps = windows(field, ["2020-06-01T00:00:00.000Z", "x"], False, now)
    first = next(steps)[field]
    assert first == {"$gte": "2020-06-01T00:00:00.000Z", "$lt": "2020-07-01T00:00:00.000Z"}
    assert steps.send((0, 5))[field]["$gte"] == first["$lt"]
    assert next(windows(field, ["", "x"], True, now)) == {field: ""}
    assert next(windows(field, ["2020-06-01T00:00:00.000Z", "x"], True, now))[field]["$lt"] == \
        "2020-06-01T00:00:00.000Z" + HIGH
