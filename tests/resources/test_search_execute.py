"""Search against a real database (the embedded server of ``tests/conftest.py``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient, MongoClient

from fhir_server.resources.errors import FhirError
from fhir_server.resources.search import SearchScope, index_models, search
from fhir_server.resources.search.execute import plan_for
from tests.resources.search_fixtures import BASE, stored, synthea_resources
from tests.threaded import run_coroutine

ALL = SearchScope()


@pytest.fixture(scope="module")
def loaded(mongo_uri: str) -> Iterator[dict[str, Any]]:
    """Four Synthea patients stored in the documented shape, in a database of their own."""
    name = "search_" + uuid.uuid4().hex[:10]
    client: MongoClient = MongoClient(mongo_uri, tz_aware=True)
    db = client[name]
    by_type: dict[str, list[dict]] = {}
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    for i, r in enumerate(synthea_resources(4)):
        by_type.setdefault(r["resourceType"], []).append(stored(r, lu=t0 + timedelta(seconds=i)))
    for rtype, docs in by_type.items():
        db[rtype].create_indexes(index_models(rtype))
        db[rtype].insert_many(docs)
    patients = [d["res"] for d in by_type["Patient"]]
    try:
        yield {"uri": mongo_uri, "name": name, "db": db, "patients": patients, "by_type": by_type}
    finally:
        client.drop_database(name)
        client.close()


def run(loaded: dict, rtype: str | None, params: list[tuple[str, str]], scope: SearchScope = ALL,
        **kw: Any) -> dict:
    async def go() -> dict:
        client: AsyncMongoClient = AsyncMongoClient(loaded["uri"], tz_aware=True)
        try:
            return await search(client[loaded["name"]], rtype, params, base_url=BASE, scope=scope, **kw)
        finally:
            await client.close()

    return run_coroutine(go())


def ids(bundle: dict, mode: str = "match") -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == mode]


def expected(loaded: dict, rtype: str, pred) -> set[str]:  # type: ignore[no-untyped-def]
    return {d["_id"] for d in loaded["by_type"][rtype] if pred(d["res"])}


def codes(res: dict, elem: str) -> set[str]:
    v = res.get(elem)
    vs = v if isinstance(v, list) else [v] if v else []
    return {c.get("code") for cc in vs for c in cc.get("coding", [])}


def follow(loaded: dict, url: str) -> dict:
    """Follow a next/previous link as a client would (parse its query string)."""
    from urllib.parse import parse_qsl, urlsplit

    parts = urlsplit(url)
    assert url.startswith(BASE)
    rtype = parts.path.rsplit("/", 1)[-1]
    return run(loaded, rtype, parse_qsl(parts.query))


def test_token_reference_date_string(loaded: dict) -> None:
    p = loaded["patients"][0]
    pid = p["id"]
    b = run(loaded, "Observation", [("patient", pid), ("category", "laboratory"), ("_count", "1000")])
    want = expected(loaded, "Observation", lambda r: r["subject"]["reference"] == f"Patient/{pid}"
                    and "laboratory" in codes(r, "category"))
    assert set(ids(b)) == want and b["total"] == len(want) and want
    b = run(loaded, "Observation", [("subject", f"{BASE}/Patient/{pid}"), ("code", "http://loinc.org|8302-2"),
                                    ("date", "ge2015"), ("_count", "1000")])
    want = expected(loaded, "Observation", lambda r: r["subject"]["reference"] == f"Patient/{pid}"
                    and "8302-2" in codes(r, "code") and r["effectiveDateTime"][:4] >= "2015")
    assert set(ids(b)) == want and want
    family = p["name"][0]["family"]
    b = run(loaded, "Patient", [("name", family[:3].upper())])
    assert pid in ids(b)
    assert family != family.lower()
    assert pid in ids(run(loaded, "Patient", [("family:exact", family)]))
    assert pid not in ids(run(loaded, "Patient", [("family:exact", family.lower())]))
    b = run(loaded, "Patient", [("_id", pid)])
    assert ids(b) == [pid]
    b = run(loaded, "Observation", [("code:not", "8302-2"), ("patient", pid), ("_count", "1000")])
    assert set(ids(b)) == expected(loaded, "Observation", lambda r: r["subject"]["reference"] == f"Patient/{pid}"
                                   and "8302-2" not in codes(r, "code"))


def test_chain_and_quantity(loaded: dict) -> None:
    p = loaded["patients"][1]
    b = run(loaded, "Observation", [("subject:Patient.name", p["name"][0]["family"]), ("_count", "1000")])
    want = expected(loaded, "Observation", lambda r: r["subject"]["reference"] == f"Patient/{p['id']}")
    assert set(ids(b)) == want and want
    b = run(loaded, "Observation", [("value-quantity", "gt150||cm"), ("_count", "1000")])
    want = expected(loaded, "Observation", lambda r: r.get("valueQuantity", {}).get("code") == "cm"
                    and r["valueQuantity"]["value"] > 150)
    assert set(ids(b)) == want and want


def test_errors_and_unknown(loaded: dict) -> None:
    for params in ([("date", "notadate")], [("_count", "abc")], [("value-quantity", "x")]):
        with pytest.raises(FhirError) as err:
            run(loaded, "Observation", params)
        assert err.value.status == 400 and err.value.expression == [params[0][0]]
    b = run(loaded, "Observation", [("foo", "1"), ("_totalMethod", "count"), ("_count", "1")])
    outcome = [e for e in b["entry"] if e["search"]["mode"] == "outcome"]
    assert len(outcome) == 1 and outcome[0]["resource"]["issue"][0]["expression"] == ["foo"]
    with pytest.raises(FhirError) as err:
        run(loaded, "Observation", [("foo", "1")], strict=True)
    assert err.value.status == 400 and "foo" in err.value.diagnostics


def _docs_examined(loaded: dict, rtype: str, params: list[tuple[str, str]], scope: SearchScope) -> int:
    plan = plan_for(rtype, params, base_url=BASE, scope=scope)
    cursor = loaded["db"][rtype].find(plan.filter).sort(plan.mongo_sort(False))
    stats = cursor.explain()["executionStats"]
    return int(stats["totalDocsExamined"])


def test_explain_portal_queries_are_indexed(loaded: dict) -> None:
    db = loaded["db"]
    pid = loaded["patients"][0]["id"]
    n_obs = db.Observation.count_documents({})
    n_pat = db.Patient.count_documents({})
    lab = _docs_examined(loaded, "Observation", [("patient", pid), ("category", "laboratory"), ("_sort", "-date"),
                                                 ("_count", "50")], ALL)
    code = _docs_examined(loaded, "Observation", [("patient", pid), ("code", "http://loinc.org|718-7"),
                                                  ("date", "ge2020")], ALL)
    name = _docs_examined(loaded, "Patient", [("name", "smi")], ALL)
    scoped = _docs_examined(loaded, "Observation", [("code", "8302-2")], SearchScope(patients=frozenset([pid])))
    print(f"\nObservation docs={n_obs}: lab page examined {lab}, code+date examined {code}, scoped {scoped};"
          f" Patient docs={n_pat}: name examined {name}")
    assert lab < n_obs / 2 and code < n_obs / 2 and scoped < n_obs / 2
    assert name < max(n_pat, 2)


def test_keyset_paging_survives_writes(loaded: dict) -> None:
    pid = loaded["patients"][2]["id"]
    params = [("patient", pid), ("_sort", "-date"), ("_count", "7")]
    seen: list[str] = []
    b = run(loaded, "Observation", params)
    seen += ids(b)
    inserted = []
    db = loaded["db"]
    while True:
        # A write between pages: a new Observation sorting before everything already seen…
        new = {"resourceType": "Observation", "id": f"new-{len(inserted)}", "status": "final",
               "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
               "subject": {"reference": f"Patient/{pid}"}, "effectiveDateTime": "2100-01-01"}
        db.Observation.insert_one(stored(new))
        inserted.append(new["id"])
        nxt = [lk["url"] for lk in b["link"] if lk["relation"] == "next"]
        if not nxt:
            break
        b = follow(loaded, nxt[0])
        seen += ids(b)
    try:
        want = expected(loaded, "Observation", lambda r: r["subject"]["reference"] == f"Patient/{pid}")
        assert len(seen) == len(set(seen)), "duplicate across pages"
        assert set(seen) - set(inserted) == want, "gap across pages"
        # previous link walks back to the same entries
        assert len(seen) > 14, "fewer than three pages: paging was not exercised"
        prev = [lk["url"] for lk in b["link"] if lk["relation"] == "previous"]
        assert prev, "the last page has no previous link"
        back = follow(loaded, prev[0])
        assert ids(back) and set(ids(back)) <= set(seen)
    finally:
        db.Observation.delete_many({"_id": {"$in": inserted}})


def test_patient_scope_never_leaks(loaded: dict) -> None:
    mine, other = loaded["patients"][0]["id"], loaded["patients"][1]["id"]
    scope = SearchScope(patients=frozenset([mine]), allow_non_compartment=True)
    b = run(loaded, "Observation", [("patient", other)], scope)
    assert ids(b) == [] and b.get("total", 0) == 0
    b = run(loaded, "Observation", [("code", "8302-2"), ("_count", "1000"), ("_include", "Observation:subject"),
                                    ("_revinclude", "Provenance:target")], scope)
    assert ids(b) and all(e["resource"].get("subject", {}).get("reference") == f"Patient/{mine}"
                          for e in b["entry"] if e["resource"]["resourceType"] == "Observation")
    assert ids(b, "include") == [mine]
    b = run(loaded, "Patient", [("_revinclude", "Observation:subject"), ("_revinclude", "Encounter:patient"),
                                ("_count", "1000")], scope)
    assert ids(b) == [mine]
    assert all(other not in str(e["resource"].get("subject", "")) for e in b["entry"])
    b = run(loaded, "Encounter", [("_include", "Encounter:patient"), ("_count", "1000")], scope)
    assert {e["resource"]["subject"]["reference"] for e in b["entry"] if e["resource"]["resourceType"] == "Encounter"} \
        == {f"Patient/{mine}"}
    b = run(loaded, "Patient", [("_count", "1000")], scope)
    assert ids(b) == [mine]
    with pytest.raises(FhirError) as err:
        run(loaded, "Observation", [], scope, compartment=("Patient", other))
    assert err.value.status == 403
    # restrictions: only laboratory Observations
    lab = SearchScope(patients=frozenset([mine]), restrictions={"Observation": [[("category", "laboratory")]]})
    b = run(loaded, "Observation", [("_count", "1000")], lab)
    assert ids(b) and all("laboratory" in codes(e["resource"], "category") for e in b["entry"])


def test_sort_summary_elements_include(loaded: dict) -> None:
    pid = loaded["patients"][3]["id"]
    b = run(loaded, "Observation", [("patient", pid), ("_sort", "code,-date"), ("_count", "1000"),
                                    ("_elements", "code")])
    res = [e["resource"] for e in b["entry"]]
    assert len(res) == len(expected(loaded, "Observation", lambda r: r["subject"]["reference"] == f"Patient/{pid}"))
    assert all(set(r) <= {"resourceType", "id", "meta", "code"} for r in res)
    assert all("code" in r for r in res) and "effectiveDateTime" not in str(res)
    # The order is code ascending, then date descending within one code (read from the stored documents).
    full = {d["_id"]: d["res"] for d in loaded["by_type"]["Observation"]}
    keys = [(full[r["id"]]["code"]["coding"][0]["code"], full[r["id"]].get("effectiveDateTime", "")) for r in res]
    assert [k[0] for k in keys] == sorted(k[0] for k in keys)
    for code in {k[0] for k in keys}:
        dates = [d for c, d in keys if c == code]
        assert dates == sorted(dates, reverse=True), code
    assert len({k[0] for k in keys}) > 3
    b = run(loaded, "Observation", [("patient", pid), ("_summary", "count")])
    assert "entry" not in b and b["total"] > 0
    b = run(loaded, "Encounter", [("patient", pid), ("_include", "Encounter:service-provider"), ("_count", "1000")])
    providers = {e["resource"]["serviceProvider"]["reference"].split("/")[-1] for e in b["entry"]
                 if e["search"]["mode"] == "match" and "serviceProvider" in e["resource"]}
    assert providers and set(ids(b, "include")) == providers
    b = run(loaded, None, [("_type", "Patient"), ("_id", pid)])
    assert ids(b) == [pid]
    b = run(loaded, "Observation", [], compartment=("Patient", pid))
    assert b["entry"] and all(e["resource"]["subject"]["reference"] == f"Patient/{pid}" for e in b["entry"])
