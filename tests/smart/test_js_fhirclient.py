"""A standalone patient launch by the JavaScript ``fhirclient`` (npm), the way a browser app does it:
an app page on its own origin authorizes, the real portal sign-in and consent page answer, and the
app page exchanges the code and reads Observations cross-origin (CORS) with the granted token."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Route

from tests.smart.helpers import add_client

BUNDLE = Path(__file__).resolve().parents[1] / "js" / "node_modules" / "fhirclient" / "build" / "fhir-client.js"
# *.localhost is a secure context to Chromium (WebCrypto for PKCE, no mixed content) and another origin
# than the server's 127.0.0.1. A routed page has no address, so Chromium's Local Network Access counts it as
# public and asks before it calls 127.0.0.1: the context grants that, as a user would (a deployed app and
# server on public hosts never meet the prompt).
APP = "http://app.localhost:8765"
SCOPE = "launch/patient openid fhirUser patient/*.rs"
JANE = ("jane.doe@example.org", "Jane-Demo-2026!", "1968-04-12")

LAUNCH_HTML = """<!doctype html><title>Launch</title><script src="/fhir-client.js"></script>
<script>FHIR.oauth2.authorize(%s);</script>"""
# The result goes into #result as JSON: the test reads it; errors too, so a failure says why.
INDEX_HTML = """<!doctype html><title>App</title><script src="/fhir-client.js"></script><pre id="result"></pre>
<script>
const out = (value) => { document.getElementById("result").textContent = JSON.stringify(value); };
async function main() {
  const client = await FHIR.oauth2.ready();
  const bundle = await client.request("Observation?patient=" + client.patient.id + "&_count=20");
  const entries = bundle.entry || [];
  // Another patient's record through the same token: the library rejects with the HTTP status.
  const foreign = await client.request("Patient/robert-chen").then(() => 200, (error) => error.status);
  out({patient: client.patient.id, scope: client.state.tokenResponse.scope, count: entries.length,
       subjects: entries.map((entry) => entry.resource.subject.reference), foreign});
}
main().catch((error) => out({error: String(error && error.stack || error)}));
</script>"""


def serve(route: Route, body: str | bytes, content_type: str) -> None:
    route.fulfill(status=200, body=body, headers={"Content-Type": content_type, "Cache-Control": "no-store"})


def test_js_fhirclient_standalone_launch_reads_the_patients_observations(server: Any, browser: Browser) -> None:
    if not BUNDLE.exists():
        pytest.fail(f"{BUNDLE} is missing: run `make tests/js/node_modules/.installed` (npm ci in tests/js)")
    app = add_client(server, "public", redirect_uris=[f"{APP}/index.html"])[0]
    options = {"clientId": app.client_id, "scope": SCOPE, "redirectUri": "index.html", "iss": server.fhir,
               "pkceMode": "required"}
    library = BUNDLE.read_bytes()
    context = browser.new_context(permissions=["local-network-access"])
    context.set_default_timeout(10_000)
    context.route(f"{APP}/fhir-client.js", lambda route: serve(route, library, "text/javascript"))
    context.route(f"{APP}/launch.html", lambda route: serve(route, LAUNCH_HTML % json.dumps(options), "text/html"))
    context.route(f"{APP}/index.html**", lambda route: serve(route, INDEX_HTML, "text/html"))
    console: list[str] = []
    page = context.new_page()
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}  ({page.url})"))
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}  ({page.url})"))
    try:
        page.goto(f"{APP}/launch.html")
        page.wait_for_url(f"{server.url}/**")
        page.get_by_label("Email").fill(JANE[0])
        page.get_by_label("Password").fill(JANE[1])
        page.get_by_label("Date of birth").fill(JANE[2])
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("button", name="Allow", exact=True).click()
        page.wait_for_url(f"{APP}/index.html**")
        page.locator("#result:not(:empty)").wait_for()
        result = json.loads(page.locator("#result").text_content() or "{}")
    except Exception as error:
        log = "\n".join(console)
        raise AssertionError(f"the launch stopped at {page.url}\nbrowser console:\n{log}") from error
    finally:
        context.close()
    log = "\n".join(console)
    assert "error" not in result, f"{result['error']}\nbrowser console:\n{log}"
    assert result["patient"] == "jane-doe", log
    assert 0 < result["count"] <= 20, result
    assert result["subjects"] and all(subject == "Patient/jane-doe" for subject in result["subjects"]), result
    assert "patient/*.rs" in result["scope"].split(), result
    assert result["foreign"] == 404, result
