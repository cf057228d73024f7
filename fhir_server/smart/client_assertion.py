"""JWT client authentication, ``private_key_jwt`` (RFC 7523 §2.2, §3; SMART Backend Services).

SMART: the assertion is signed RS384 or ES384 with a key from the client's JWK Set;
``iss`` and ``sub`` are the client_id; ``aud`` is the token endpoint URL; ``exp`` "no more
than five minutes in the future"; "The authorization server SHALL ... ensure that the jti
value has not been previously encountered for the given iss within the maximum allowed
authentication JWT lifetime". Used jtis are kept (TTL index) until their ``exp`` has passed.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
from pymongo.errors import DuplicateKeyError

from fhir_server.db import Database
from fhir_server.smart.clients import Client, get_client
from fhir_server.smart.errors import InvalidClient
from fhir_server.smart.store import ASSERTION_JTIS

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ("RS384", "ES384")
MAX_LIFETIME = 300
LEEWAY = 30
_jwks_cache: dict[str, tuple[float, dict[str, Any]]] = {}


async def _jwks(client: Client) -> dict[str, Any]:
    if client.jwks:
        return client.jwks
    assert client.jwks_url
    cached = _jwks_cache.get(client.jwks_url)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    try:
        async with httpx.AsyncClient(timeout=5, follow_redirects=False) as http:
            response = await http.get(client.jwks_url)
            response.raise_for_status()
            jwks: dict[str, Any] = response.json()
    except (httpx.HTTPError, ValueError):
        raise InvalidClient("The client's JWK Set URL could not be read.") from None
    _jwks_cache[client.jwks_url] = (time.monotonic() + 300, jwks)
    return jwks


def _candidate_keys(jwks: dict[str, Any], kid: str | None, alg: str) -> list[Any]:
    kty = "RSA" if alg.startswith("RS") else "EC"
    keys = []
    for jwk in jwks.get("keys", []):
        if jwk.get("kty") != kty or (kid and jwk.get("kid") != kid):
            continue
        if jwk.get("alg") not in (None, alg):
            continue
        try:
            keys.append(jwt.PyJWK(jwk, algorithm=alg).key)
        except jwt.PyJWTError:
            continue
    return keys


async def authenticate(db: Database, assertion: str, token_url: str, client_id: str | None = None) -> Client:
    """The client the assertion proves to be; InvalidClient otherwise (nothing else is revealed)."""
    try:
        header = jwt.get_unverified_header(assertion)
        unverified = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise InvalidClient("The client assertion is not a JWT.") from None
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise InvalidClient(f"Client assertions must be signed with {' or '.join(ALGORITHMS)}.")
    issuer = unverified.get("iss")
    if client_id and issuer != client_id:
        raise InvalidClient("The client assertion's iss is not the client_id.")
    client = await get_client(db, issuer)
    if client is None or not client.asymmetric:
        raise InvalidClient("Unknown client, or a client without a registered JWK Set.")
    claims = None
    for key in _candidate_keys(await _jwks(client), header.get("kid"), alg):
        try:
            claims = jwt.decode(assertion, key, algorithms=[alg], audience=token_url, issuer=client.client_id,
                                leeway=LEEWAY, options={"require": ["iss", "sub", "aud", "exp", "jti"]})
            break
        except jwt.InvalidSignatureError:
            continue
        except jwt.ExpiredSignatureError:
            raise InvalidClient("The client assertion has expired.") from None
        except jwt.InvalidAudienceError:
            raise InvalidClient("The client assertion's aud must be the token endpoint URL.") from None
        except jwt.PyJWTError as exc:
            raise InvalidClient(f"The client assertion is not valid: {exc}.") from None
    if claims is None:
        raise InvalidClient("The client assertion's signature does not match any key of the client.")
    if claims["sub"] != client.client_id:
        raise InvalidClient("The client assertion's sub must be the client_id.")
    exp = int(claims["exp"])
    if exp > time.time() + MAX_LIFETIME + LEEWAY:
        raise InvalidClient("The client assertion's exp is more than five minutes in the future.")
    try:
        await db[ASSERTION_JTIS].insert_one({
            "_id": f"{client.client_id}:{claims['jti']}",
            "expires_at": datetime.fromtimestamp(exp, UTC) + timedelta(seconds=LEEWAY)})
    except DuplicateKeyError:
        raise InvalidClient("The client assertion's jti has been used before.") from None
    return client
