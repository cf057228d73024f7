"""The authorization_code grant (RFC 6749 §4.1.3) with PKCE (RFC 7636 §4.5–4.6).

"ensure that the authorization code was issued to the authenticated confidential client, or
if the client is public, ensure that the code was issued to client_id in the request";
"ensure that the redirect_uri parameter is present if [it] was included in the initial
authorization request ... and if included ensure that their values are identical".
The code is consumed before anything else is checked, so a failed attempt burns it.
"""

from __future__ import annotations

from typing import Any

from fhir_server.services import Services
from fhir_server.smart import codes, pkce
from fhir_server.smart.clients import Client
from fhir_server.smart.errors import InvalidGrant
from fhir_server.smart.issuance import token_response
from fhir_server.smart.store import Authorization


async def grant(services: Services, client: Client, form: dict[str, str]) -> dict[str, Any]:
    doc = await codes.redeem(services.db, form.get("code"))
    authorization = Authorization.from_doc(doc["authorization"])
    if authorization.client_id != client.client_id:
        raise InvalidGrant("The authorization code was issued to another client.")
    if form.get("redirect_uri") != doc["redirect_uri"]:
        raise InvalidGrant("redirect_uri differs from the one of the authorization request.")
    pkce.verify(form.get("code_verifier"), doc["code_challenge"])
    body, issued = await token_response(services, authorization)
    await codes.mark_issued(services.db, doc, issued)
    return body
