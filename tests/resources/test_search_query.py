"""Parsing and planning of search requests (no database)."""

from __future__ import annotations

import pytest

from fhir_server.resources.errors import FhirError
from fhir_server.resources.search import SearchScope
from fhir_server.resources.search.clauses import split_or
from fhir_server.resources.search.execute import plan_for
from fhir_server.resources.search.extract import index_resource
from fhir_server.resources.search.query import parse

BASE = "http://127.0.0.1:8080/fhir"


def q(rtype: str, *params: tuple[str, str], strict: bool = False):  # type: ignore[no-untyped-def]
    return parse([rtype], list(params), base_url=BASE, strict=strict)


def doc(res: dict) -> dict:
    return {"_id": res.get("id", "x"), "idx": index_resource(res)}


OBS = {"resourceType": "Observation", "id": "o1", "status": "final",
       "code": {"coding": [{"system": "http://loinc.org", "code": "718-7", "display": "Hemoglobin"}]},
       "subject": {"reference": "Patient/p1"}, "effectivePeriod": {"start": "2020-03-01", "end": "2020-03-05"},
       "valueQuantity": {"value": 13.2, "system": "http://unitsofmeasure.org", "code": "g/dL", "unit": "g/dL"}}


@pytest.mark.parametrize(("param", "value", "hit"), [
    ("code", "718-7", True), ("code", "http://loinc.org|718-7", True), ("code", "|718-7", False),
    ("code", "http://loinc.org|", True), ("code:text", "hemo", True), ("code:not", "718-7", False),
    ("code", "1,718-7", True), ("patient", "p1", True), ("subject", "Patient/p1", True),
    ("subject", f"{BASE}/Patient/p1", True), ("subject", "p2", False),
    ("date", "2020-03", True), ("date", "eq2020-03-02", False), ("date", "ge2020-03-04", True),
    ("date", "gt2020-03", False), ("date", "lt2020-03-02", True), ("date", "sa2020-02", True),
    ("date", "eb2020-04", True), ("date", "ne2020-03", False), ("date", "ap2020-03-03", True),
    ("value-quantity", "13.2", True), ("value-quantity", "13.24", False), ("value-quantity", "gt13", True),
    ("value-quantity", "13.2|http://unitsofmeasure.org|g/dL", True), ("value-quantity", "13.2||mg", False),
    ("value-quantity:missing", "false", True), ("value-string:missing", "true", True),
    ("_id", "o1", True), ("status", "final", True),
])
def test_clause_semantics(param: str, value: str, hit: bool) -> None:
    query = q("Observation", (param, value))
    assert all(c.match(doc(OBS)) for c in query.clauses) is hit


def test_strings() -> None:
    pat = {"resourceType": "Patient", "id": "p", "name": [{"family": "Muñoz", "given": ["José"]}]}
    for value, hit in (("mun", True), ("JOS", True), ("oz", False)):
        assert q("Patient", ("name", value)).clauses[0].match(doc(pat)) is hit
    assert q("Patient", ("name:contains", "oz")).clauses[0].match(doc(pat))
    assert q("Patient", ("family:exact", "Muñoz")).clauses[0].match(doc(pat))
    assert not q("Patient", ("family:exact", "munoz")).clauses[0].match(doc(pat))


def test_result_params_and_errors() -> None:
    query = q("Observation", ("_count", "5000"), ("_sort", "-date,code"), ("_include", "Observation:subject"),
              ("_revinclude:iterate", "Provenance:target"), ("_totalMethod", "count"), ("foo", "1"))
    assert query.count == 1000 and query.sort == [("date", True), ("code", False)]
    assert query.includes[0].param == "subject" and query.revincludes[0].iterate
    assert query.unknown == ["foo"]
    for params in ([("_count", "abc")], [("date", "notadate")], [("_sort", "nope")], [("_include", "bad")]):
        with pytest.raises(FhirError) as err:
            q("Observation", *params)
        assert err.value.status == 400 and err.value.expression
    with pytest.raises(FhirError, match="foo"):
        q("Observation", ("foo", "1"), strict=True)
    assert q("Observation", ("subject:Patient.name", "smi")).chains[0].types == ("Patient",)
    assert split_or(r"a\,b,c") == ["a,b", "c"]


def test_plan_drives_one_indexed_predicate() -> None:
    plan = plan_for("Observation", [("patient", "p1"), ("category", "laboratory"), ("_sort", "-date")],
                    base_url=BASE, scope=SearchScope())
    assert plan.filter == {"comp": "p1"}
    plan = plan_for("Observation", [("code", "718-7")], base_url=BASE,
                    scope=SearchScope(patients=frozenset({"p1", "p2"})))
    assert plan.filter == {"comp": {"$in": ["p1", "p2"]}}
    plan = plan_for("Observation", [("_id", "a"), ("code", "718-7")], base_url=BASE, scope=SearchScope())
    assert plan.filter == {"_id": "a"}
    plan = plan_for("Patient", [("name", "smi")], base_url=BASE, scope=SearchScope())
    assert list(plan.filter) == ["idx.str"] and plan.exact
    plan = plan_for("Observation", [("patient", "p9")], base_url=BASE, scope=SearchScope(patients=frozenset({"p1"})))
    assert plan.empty
