"""A standalone patient launch by the Python ``fhirclient`` library, with the real portal
sign-in and consent page in a real browser, then reads through the granted token."""

from __future__ import annotations

from typing import Any

import pytest
from fhirclient import client as fhirclient
from fhirclient.models.observation import Observation
from playwright.sync_api import Browser, Route

from tests.portal.conftest import shot
from tests.smart.helpers import REDIRECT, add_client, fhir_get
from tests.support.portal import add_delegate, registered_patient

JANE = ("jane.doe@example.org", "Jane-Demo-2026!", "1968-04-12")


def launch(server: Any, browser: Browser, person: tuple[str, str, str], scope: str,
           pick: str | None = None) -> fhirclient.FHIRClient:
    """fhirclient builds the authorize URL from /fhir/metadata; the browser signs in and allows."""
    app = add_client(server, "public")[0]
    smart = fhirclient.FHIRClient(settings={"app_id": app.client_id, "api_base": server.fhir,
                                            "redirect_uri": REDIRECT, "scope": scope})
    landed: list[str] = []
    context = browser.new_context()

    def catch_callback(route: Route) -> None:
        landed.append(route.request.url)
        route.fulfill(status=200, body="app callback")

    context.route(f"{REDIRECT}**", catch_callback)
    page = context.new_page()
    try:
        page.goto(smart.authorize_url)
        page.get_by_label("Email").fill(person[0])
        page.get_by_label("Password").fill(person[1])
        page.get_by_label("Date of birth").fill(person[2])
        page.get_by_role("button", name="Sign in").click()
        if pick:  # a delegate with several records chooses one on the consent page
            page.locator(f'input[name="patient"][value="{pick}"]').check()
        else:
            shot(page, f"smart-consent-{person[0].split('.')[0]}")
        page.get_by_role("button", name="Allow", exact=True).click()
        page.wait_for_url(f"{REDIRECT}**")
    finally:
        context.close()
    assert landed, "the browser never came back to the app"
    smart.handle_callback(landed[0])
    return smart


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_fhirclient_standalone_launch_reads_the_patients_observations(server: Any, browser: Browser) -> None:
    smart = launch(server, browser, JANE, "launch/patient openid fhirUser offline_access patient/*.rs")
    assert smart.patient_id == "jane-doe"
    observations = Observation.where({"patient": "jane-doe", "_count": "50"}).perform_resources(smart.server)
    assert observations and all(o.subject.reference == "Patient/jane-doe" for o in observations)
    token = smart.server.auth.access_token
    assert fhir_get(server, token, "Patient/robert-chen").status_code == 404
    assert smart.server.auth.refresh_token


def test_a_delegate_launch_gets_the_patient_context_and_is_cut_off_on_revocation(server: Any, browser: Browser,
                                                                                admin: Any, smtp: Any) -> None:
    # Their own patient and delegate: the revocation below touches no other test's data.
    owner = registered_patient(server, admin, smtp, given="Lena", family="Launcher")
    helper = registered_patient(server, admin, smtp, given="Theo", family="Launcher")
    add_delegate(server, smtp, owner, helper)
    smart = launch(server, browser, helper.credentials, "launch/patient openid fhirUser patient/*.rs",
                   pick=owner.patient_id)
    assert smart.patient_id == owner.patient_id
    token = smart.server.auth.access_token
    import jwt

    claims = jwt.decode(token, options={"verify_signature": False})
    [consent] = [e["resource"] for e in admin.get("/Consent", params={"patient": owner.patient_id,
                                                                      "status": "active"}).json()["entry"]]
    assert claims["fhirUser"].endswith(consent["provision"]["actor"][0]["reference"]["reference"])
    assert fhir_get(server, token, f"Observation?patient={owner.patient_id}&_count=1").status_code == 200
    assert admin.put(f"/Consent/{consent['id']}", json={**consent, "status": "inactive"}).status_code == 200
    assert fhir_get(server, token, f"Observation?patient={owner.patient_id}&_count=1").status_code == 401
