"""Never a 500 (issue 13): generated bad input at every route family, over real HTTP — FHIR bodies
of every resource type (wrong types, huge numbers, deep nesting, odd Unicode), search parameters
with every prefix, modifier and malformed value, paging cursors, portal forms with missing, long
and malformed fields, the SMART endpoints' parameters — and no answer is a 5xx, and the server
keeps answering. Each family runs a fixed number of cases (printed), so the run stays short."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from contextlib import closing
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhir_server.resources.search.definitions import SEARCH_PARAMS
from fhir_server.resources.validation import resource_types
from tests.portal.test_messages_support import PASSWORD, member

TYPES = sorted(resource_types())
SEARCHABLE = sorted(SEARCH_PARAMS)


def ran(family: str, cases: int, capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        print(f"\n[never-500] {family}: {cases} generated cases, no 5xx")


def fixed(examples: int) -> Callable[[Any], Any]:
    return settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                           HealthCheck.data_too_large])


def still_answering(server: Any) -> None:
    assert httpx.get(f"{server.fhir}/metadata", timeout=30).status_code == 200
    assert httpx.get(f"{server.url}/login", timeout=30).status_code == 200


def no_5xx(response: httpx.Response, what: object) -> None:
    assert response.status_code < 500, f"{response.status_code} for {what!r}: {response.text[:300]}"


# -- values -------------------------------------------------------------------------------------

SHORT_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
ODD_TEXT = st.one_of(
    SHORT_TEXT,
    st.sampled_from(["", " ", "\u0000", "\u202e\u2066", "𝕏" * 30, "ﷺ", "\ufeff", "a\r\nb", "' OR 1=1 --",
                     '{"$gt": ""}', "../../etc/passwd", "<script>alert(1)</script>", "%00", "\\u0000", "1e999"]),
    st.sampled_from(["x" * 3000, "é" * 1500, "\u0000" * 500]),
)
URL_TEXT = st.one_of(SHORT_TEXT, st.sampled_from(["", "\u0000", "\u202e", "' OR 1=1 --", '{"$gt": ""}', "%00",
                                                  "x" * 1500, "é" * 300]))
NUMBERS = st.one_of(st.integers(min_value=-(10**40), max_value=10**40), st.floats(allow_nan=False),
                    st.sampled_from([0, -1, 2**63, -(2**63) - 1, 1e308, -1e-308]))
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, ODD_TEXT)
JSONISH = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(SHORT_TEXT, inner, max_size=4)),
                       max_leaves=12)
SMALL_JSON = st.recursive(st.one_of(st.none(), st.booleans(), NUMBERS, URL_TEXT),
                          lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                  st.dictionaries(SHORT_TEXT, inner, max_size=3)), max_leaves=6)
FIELDS = ["id", "meta", "text", "status", "subject", "patient", "code", "valueQuantity", "valueInteger",
          "effectiveDateTime", "name", "birthDate", "identifier", "extension", "contained", "entry",
          "reference", "for", "sender", "recipient", "payload", "category", "period", "issued"]


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


RAW_BODIES = st.sampled_from([
    b"", b"null", b"[]", b"{", b"\xff\xfe\x00", nested(100_000).encode(), ("9" * 6000).encode(),
    b'{"resourceType": 5}', b'{"resourceType": "Patient", "birthDate": NaN}',
    b'{"resourceType":"Patient","name":' + nested(300).encode() + b"}",
    b'{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueInteger":' + b"1" * 5000 + b"}",
])


@st.composite
def fhir_bodies(draw: st.DrawFn) -> tuple[str, str, bytes]:
    rtype = draw(st.sampled_from(TYPES))
    if draw(st.integers(0, 4)) == 0:
        return rtype, "application/fhir+json", draw(RAW_BODIES)
    body: dict[str, Any] = {"resourceType": draw(st.one_of(st.just(rtype), st.just(rtype), JSONISH))}
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=4, unique=True)):
        body[name] = draw(JSONISH)
    kind = draw(st.sampled_from(["application/fhir+json", "application/fhir+json", "application/json",
                                 "application/xml", "text/plain", ""]))
    return rtype, kind, json.dumps(body, allow_nan=True).encode()


PREFIXES = ["", "eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap", "zz"]
MODIFIERS = ["", ":exact", ":contains", ":missing", ":not", ":text", ":above", ":below", ":in", ":not-in",
             ":of-type", ":identifier", ":iterate", ":Patient", ":bogus", ".name", ":Patient.name"]
VALUE_PARTS = st.one_of(URL_TEXT, NUMBERS.map(str), st.sampled_from([
    "2024", "2024-02-30", "2024-13-01T25:61:61Z", "0000-00-00", "9999-12-31T23:59:59.999999999+14:00",
    "http://loinc.org|", "|", "||", "a|b|c", "5.4|http://unitsofmeasure.org|mg", "Patient/", "Patient/x/y",
    "urn:uuid:", "-", "*", ",", ",,", "true", "1e-999", "NaN", "Infinity"]))


@st.composite
def searches(draw: st.DrawFn) -> tuple[str, list[tuple[str, str]]]:
    rtype = draw(st.sampled_from(SEARCHABLE))
    names = [*sorted(SEARCH_PARAMS[rtype]), "_sort", "_count", "_include", "_revinclude", "_summary",
             "_elements", "_total", "_id", "_lastUpdated", "_type", "_has:Observation:subject:code", "bogus"]
    params = []
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(names)) + draw(st.sampled_from(MODIFIERS))
        value = draw(st.sampled_from(PREFIXES)) + draw(VALUE_PARTS)
        params.append((name, value))
    return rtype, params


def as_json(body: bytes) -> Any:
    """The body as a value to embed in a Bundle (None when this client cannot parse it)."""
    try:
        return json.loads(body) if body[:1] == b"{" and len(body) < 100_000 else None
    except ValueError:  # e.g. more than 4,300 digits: the server's answer to that is tested raw
        return None


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


CURSORS = st.one_of(
    URL_TEXT,
    SMALL_JSON.map(lambda v: b64(json.dumps(v).encode())),
    st.fixed_dictionaries({"t": st.one_of(st.sampled_from(SEARCHABLE), SMALL_JSON), "k": SMALL_JSON,
                           "i": SMALL_JSON, "d": st.one_of(st.sampled_from(["n", "p"]), SMALL_JSON)}
                          ).map(lambda v: b64(json.dumps(v).encode())),
    st.binary(max_size=60).map(b64),
)
FORM_TEXT = st.one_of(st.none(), ODD_TEXT, st.sampled_from(["2024-02-30", "1899-01-01", "3000-01-01", "-1", "14",
                                                           "1" * 400, "jane.doe@example.org"]))


# -- fixtures -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def portal(server: Any, smtp: Any) -> Iterator[httpx.Client]:
    """A signed-in patient of its own (never a demo account: other tests rely on those)."""
    with server.client() as practice:
        who = member(server, practice, smtp, given="Fuzz")
    client = httpx.Client(base_url=server.url, timeout=60)
    login = client.post("/login", data={"email": who.person.email, "password": PASSWORD,
                                        "birth_date": who.person.birth_date, "csrf_token": csrf(client, "/login")})
    assert login.status_code == 303, login.text
    with closing(client):
        yield client


def csrf(client: httpx.Client, path: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert match, path
    return match.group(1)


# -- the families -------------------------------------------------------------------------------

def test_fhir_bodies_of_every_type(server: Any, capsys: pytest.CaptureFixture[str]) -> None:
    cases = 0
    with server.client("system/*.cruds") as api:
        @fixed(250)
        @given(fhir_bodies(), st.sampled_from(["POST", "PUT", "PATCH", "VALIDATE", "BUNDLE"]))
        def attempt(case: tuple[str, str, bytes], how: str) -> None:
            nonlocal cases
            rtype, kind, body = case
            headers = {"Content-Type": kind} if kind else {}
            if how == "POST":
                response = api.post(f"/{rtype}", content=body, headers=headers)
            elif how == "PUT":
                response = api.put(f"/{rtype}/fuzz-put", content=body, headers=headers)
            elif how == "PATCH":
                response = api.patch("/Patient/jane-doe", content=body,
                                     headers={"Content-Type": "application/json-patch+json", "If-Match": 'W/"999"'})
            elif how == "VALIDATE":
                response = api.post(f"/{rtype}/$validate", content=body, headers=headers)
            else:
                entry = {"request": {"method": "POST", "url": rtype}, "resource": as_json(body)}
                bundle = {"resourceType": "Bundle", "type": "batch", "entry": [entry]}
                response = api.post("", content=json.dumps(bundle, allow_nan=True).encode(),
                                    headers={"Content-Type": "application/fhir+json"})
            no_5xx(response, (how, rtype, body[:200]))
            cases += 1

        attempt()
    still_answering(server)
    ran("FHIR bodies (create, update, patch, $validate, batch)", cases, capsys)


def test_search_parameters_prefixes_modifiers_and_values(server: Any, capsys: pytest.CaptureFixture[str]) -> None:
    cases = 0
    with server.client("system/*.rs") as api, server.client("patient/*.rs", patient="jane-doe") as jane:
        @fixed(350)
        @given(searches(), st.booleans(), st.booleans())
        def attempt(case: tuple[str, list[tuple[str, str]]], as_patient: bool, strict: bool) -> None:
            nonlocal cases
            rtype, params = case
            client = jane if as_patient else api
            headers = {"Prefer": "handling=strict"} if strict else {}
            response = client.get(f"/{rtype}", params=params, headers=headers)
            no_5xx(response, (rtype, params))
            cases += 1

        attempt()
    still_answering(server)
    ran("search parameters", cases, capsys)


def test_paging_cursors(server: Any, capsys: pytest.CaptureFixture[str]) -> None:
    cases = 0
    with server.client("system/*.rs") as api:
        @fixed(120)
        @given(CURSORS, st.sampled_from(["/Observation", "/Observation?_sort=-date", "/Patient?_sort=_lastUpdated",
                                         "/Patient/_history", "/_history", "/Patient/jane-doe/$everything",
                                         "/Observation?_sort=-_lastUpdated&_count=2", "?_type=Patient,Observation"]))
        def attempt(cursor: str, path: str) -> None:
            nonlocal cases
            response = api.get(path, params={"_cursor": cursor})
            no_5xx(response, (path, cursor))
            cases += 1

        attempt()
    still_answering(server)
    ran("paging cursors", cases, capsys)


PORTAL_FORMS = {
    "/login": ["email", "password", "birth_date", "next"],
    "/forgot-password": ["email"],
    "/register": ["password", "password_confirm"],
    "/reset-password": ["password", "password_confirm"],
    "/users/invite": ["email", "birth_date", "name", "relationship"],
    "/messages/new": ["category", "subject", "body"],
    "/send-record": ["recipient", "start", "end", "notes", "days", "password", "password_confirm"],
    "/switch-patient": ["patient_id"],
    "/messages/fuzz-id/reply": ["body"],
    "/users/fuzz-consent/revoke": [],
    "/apps/fuzz-client/open": [],
}


def test_portal_forms(server: Any, portal: httpx.Client, capsys: pytest.CaptureFixture[str]) -> None:
    cases = 0
    token = csrf(portal, "/health")

    @fixed(180)
    @given(st.sampled_from(sorted(PORTAL_FORMS)), st.data(), st.sampled_from(["valid", "missing", "odd"]))
    def attempt(path: str, data: st.DataObject, with_csrf: str) -> None:
        nonlocal cases
        form: dict[str, str] = {}
        for name in PORTAL_FORMS[path]:
            value = data.draw(FORM_TEXT)
            if value is not None:
                form[name] = value
        if path == "/login" and form.get("email", "").lower().startswith("jane.doe"):
            form["email"] = "fuzz-" + form["email"]  # never lock a demo account out
        if with_csrf == "valid":
            form["csrf_token"] = token
        elif with_csrf == "odd":
            form["csrf_token"] = data.draw(ODD_TEXT)
        response = portal.post(path, data=form)
        no_5xx(response, (path, form))
        cases += 1

    attempt()
    for path in ("/health/documents?page=-1&type=%00", "/health/download/record.json?start=2024-02-30",
                 "/messages/%00", "/shl/view?x=" + "1" * 3000, "/register?token=" + "x" * 500,
                 "/reset-password?token=%ff", "/health?days=9" * 20):
        no_5xx(portal.get(path), path)
        cases += 1
    still_answering(server)
    ran("portal forms and pages", cases, capsys)


def test_smart_endpoint_parameters(server: Any, capsys: pytest.CaptureFixture[str]) -> None:
    cases = 0
    names = ["grant_type", "code", "redirect_uri", "client_id", "client_secret", "code_verifier", "refresh_token",
             "scope", "client_assertion", "client_assertion_type", "token", "token_type_hint", "response_type",
             "state", "aud", "launch", "code_challenge", "code_challenge_method", "patient"]
    values = st.one_of(FORM_TEXT, st.sampled_from(
        ["authorization_code", "refresh_token", "client_credentials", "password",
         "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "eyJhbGciOiJub25lIn0.e30.", "a.b.c",
         "system/*.rs", "patient/*.cruds?category=x|y", "S256", "plain", "code"]))

    with httpx.Client(base_url=server.url, timeout=60) as client:
        @fixed(200)
        @given(st.sampled_from(["/auth/token", "/auth/introspect", "/auth/revoke", "/auth/authorize",
                                "/auth/authorize/decision", "/auth/launch", "/shl/manifest/fuzz"]),
               st.dictionaries(st.sampled_from(names), values.filter(lambda v: v is not None), max_size=6),
               st.sampled_from(["form", "query", "json", "basic"]))
        def attempt(path: str, params: dict[str, str], how: str) -> None:
            nonlocal cases
            if how == "query":
                response = client.get(path, params=params)
            elif how == "json":
                response = client.post(path, content=json.dumps(params).encode(),
                                       headers={"Content-Type": "application/json"})
            elif how == "basic":
                response = client.post(path, data=params, auth=(params.get("client_id", "x"),
                                                                 params.get("client_secret", "y")))
            else:
                response = client.post(path, data=params)
            no_5xx(response, (path, how, params))
            cases += 1

        attempt()
    still_answering(server)
    ran("SMART endpoints and link manifest", cases, capsys)
