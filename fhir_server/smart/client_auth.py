"""Client authentication at the token, introspection and revocation endpoints (RFC 6749 §2.3).

- ``client_secret_basic``: HTTP Basic with the url-encoded client_id and secret (§2.3.1;
  the header is parsed by authlib's ``extract_basic_authorization``);
- ``client_secret_post``: ``client_id`` and ``client_secret`` in the form body;
- ``private_key_jwt``: a signed client assertion (RFC 7523, see ``client_assertion``);
- public clients: "the client_id alone" (§3.2.1: a public client identifies itself).
A confidential client must authenticate; a failure is ``invalid_client`` (401) and says no
more than that.
"""

from __future__ import annotations

from authlib.oauth2.rfc6749.util import extract_basic_authorization
from fastapi import Request

from fhir_server.services import Services
from fhir_server.smart import client_assertion
from fhir_server.smart.clients import Client, get_client, verify_secret
from fhir_server.smart.errors import InvalidClient, InvalidRequest

METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")


def token_url(services: Services) -> str:
    return services.settings.base_url.rstrip("/") + "/auth/token"


def has_credentials(request: Request, form: dict[str, str]) -> bool:
    return bool(request.headers.get("authorization", "").lower().startswith("basic ")
                or form.get("client_secret") or form.get("client_assertion"))


async def authenticate(request: Request, form: dict[str, str], services: Services) -> Client:
    db = services.db
    basic_id, basic_secret = extract_basic_authorization(request.headers)
    if basic_id is not None:
        client = await get_client(db, basic_id)
        if client is None or not basic_secret or not await verify_secret(client, basic_secret):
            raise InvalidClient("Client authentication failed.")
        if form.get("client_id") not in (None, "", basic_id):
            raise InvalidRequest("client_id in the body differs from the authenticated client.")
        return client
    if form.get("client_assertion") or form.get("client_assertion_type"):
        if form.get("client_assertion_type") != client_assertion.ASSERTION_TYPE:
            raise InvalidClient(f"client_assertion_type must be {client_assertion.ASSERTION_TYPE}.")
        return await client_assertion.authenticate(db, form.get("client_assertion", ""), token_url(services),
                                                   form.get("client_id") or None)
    client = await get_client(db, form.get("client_id"))
    if client is None:
        raise InvalidClient("Unknown client.")
    if form.get("client_secret"):
        if not await verify_secret(client, form["client_secret"]):
            raise InvalidClient("Client authentication failed.")
        return client
    if not client.is_public:
        raise InvalidClient("This client is confidential and must authenticate.")
    return client
