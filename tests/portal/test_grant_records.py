"""A delegate cannot make her access unrevocable (security review, issue 13, High 1): the
RelatedPerson and Consent her access rests on are not hers to delete or rewrite through an app,
and a grant stays listed and revocable whatever happens to the resources around it."""

from __future__ import annotations

import re
import uuid
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import httpx

from tests.mailbox import Mailbox
from tests.portal.test_delegates import JANE, SUBJECT

PASSWORD = "Harbour-Lights-61"


def csrf_of(client: httpx.Client, path: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert match, path
    return match.group(1)


def signed_in(server: Any, email: str, password: str, birth_date: str) -> httpx.Client:
    client = httpx.Client(base_url=server.url, timeout=30)
    response = client.post("/login", data={"email": email, "password": password, "birth_date": birth_date,
                                           "csrf_token": csrf_of(client, "/login")})
    assert response.status_code == 303 and response.headers["location"] == "/health", response.text
    return client


@dataclass
class Delegate:
    email: str
    person_id: str
    consent_id: str
    portal: httpx.Client

    def token(self, server: Any) -> str:
        """Her own SMART token on Jane's record, as an app she approved would get it."""
        return server.token("patient/*.cruds", sub=f"delegate-{self.person_id}", patient="jane-doe",
                            fhirUser=f"RelatedPerson/{self.person_id}", consent=self.consent_id)


def jane_invites_a_delegate(server: Any, admin: httpx.Client, smtp: Mailbox) -> Delegate:
    """Jane invites someone from Manage users; the invitee registers from the mailed link."""
    email = f"eve.{uuid.uuid4().hex[:8]}@example.net"
    with closing(signed_in(server, *JANE)) as jane:
        sent = jane.post("/users/invite", data={"email": email, "birth_date": "1991-02-03", "name": "Eve Hostile",
                                                "csrf_token": csrf_of(jane, "/users")})
        assert sent.status_code == 303, sent.text
    link = re.search(r"https?://\S+/register\?token=[\w-]+", str(smtp.wait_for(email, SUBJECT).get_body(
        preferencelist=("plain",)).get_content()))
    assert link
    portal = httpx.Client(base_url=server.url, timeout=30)
    portal.get(link.group(0), follow_redirects=True)
    registered = portal.post("/register", data={"password": PASSWORD, "password_confirm": PASSWORD,
                                                "csrf_token": csrf_of(portal, "/register")})
    assert registered.status_code == 303, registered.text
    portal.close()
    person = admin.get("RelatedPerson", params={"patient": "jane-doe", "email": email}).json()["entry"][0]["resource"]
    consent = admin.get("Consent", params={"actor": f"RelatedPerson/{person['id']}"}).json()["entry"][0]["resource"]
    assert consent["status"] == "active"
    return Delegate(email, person["id"], consent["id"], signed_in(server, email, PASSWORD, "1991-02-03"))


def listed(server: Any, email: str) -> str | None:
    """The consent id of Jane's Manage users row for this email, if there is one."""
    with closing(signed_in(server, *JANE)) as jane:
        page = jane.get("/users").text
    match = re.search(rf'<li class="person[^"]*" data-email="{re.escape(email)}".*?/users/([\w-]+)/revoke', page,
                      re.S)
    return match.group(1) if match else None


def test_a_delegate_cannot_delete_or_rewrite_what_her_access_rests_on(server: Any, admin: httpx.Client,
                                                                      smtp: Mailbox) -> None:
    eve = jane_invites_a_delegate(server, admin, smtp)
    headers = {"Authorization": f"Bearer {eve.token(server)}", "Content-Type": "application/fhir+json"}
    fhir = server.fhir
    assert httpx.get(f"{fhir}/RelatedPerson/{eve.person_id}", headers=headers).status_code == 200

    deleted = httpx.delete(f"{fhir}/RelatedPerson/{eve.person_id}", headers=headers)
    assert deleted.status_code == 403, deleted.text
    assert "Manage users" in deleted.json()["issue"][0]["diagnostics"]
    consent = admin.get(f"Consent/{eve.consent_id}").json()
    rewritten = {**consent, "provision": {"type": "permit"}}
    assert httpx.put(f"{fhir}/Consent/{eve.consent_id}", json=rewritten, headers=headers).status_code == 403
    assert httpx.delete(f"{fhir}/Consent/{eve.consent_id}", headers=headers).status_code == 403
    patch = [{"op": "replace", "path": "/active", "value": False}]
    assert httpx.patch(f"{fhir}/RelatedPerson/{eve.person_id}", json=patch,
                       headers={**headers, "Content-Type": "application/json-patch+json"}).status_code == 403
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "DELETE", "url": f"RelatedPerson/{eve.person_id}"}}]}
    answered = httpx.post(fhir, json=batch, headers=headers).json()
    assert answered["entry"][0]["response"]["status"].startswith("403")
    # Nothing changed: the records are as they were, and Jane still sees and can revoke the grant.
    assert admin.get(f"RelatedPerson/{eve.person_id}").status_code == 200
    assert admin.get(f"Consent/{eve.consent_id}").json() == consent
    assert listed(server, eve.email) == eve.consent_id
    eve.portal.close()


def test_a_grant_stays_listed_and_revocable_when_its_related_person_is_gone(server: Any, admin: httpx.Client,
                                                                           smtp: Mailbox) -> None:
    eve = jane_invites_a_delegate(server, admin, smtp)
    token = eve.token(server)
    assert admin.delete(f"RelatedPerson/{eve.person_id}").status_code == 204  # e.g. by a practice clean-up
    assert listed(server, eve.email) == eve.consent_id

    with closing(signed_in(server, *JANE)) as jane:
        revoked = jane.post(f"/users/{eve.consent_id}/revoke",
                            data={"csrf_token": csrf_of(jane, f"/users/{eve.consent_id}/revoke")})
        assert revoked.status_code == 303, revoked.text
    assert listed(server, eve.email) is None
    assert admin.get(f"Consent/{eve.consent_id}").json()["status"] == "inactive"
    # Her token and her portal session stop working at once.
    answered = httpx.get(f"{server.fhir}/Patient/jane-doe", headers={"Authorization": f"Bearer {token}"})
    assert answered.status_code == 401
    assert eve.portal.get("/health").status_code == 403
    eve.portal.close()
