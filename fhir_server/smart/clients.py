"""The client registry (collection ``clients``): public, confidential symmetric, back-end.

- public: redirect URIs, identified by ``client_id`` alone (SMART ``client-public``).
- confidential: redirect URIs and a secret stored only as an argon2id hash
  (``client-confidential-symmetric``), or a JWK Set (``client-confidential-asymmetric``).
- backend: a JWK Set or ``jwks_url`` and the ``system/`` scopes it may have (SMART Backend
  Services); it never uses /auth/authorize.

A public or confidential app may also have a ``launch_url`` (SMART "EHR launch": the portal's
Apps page opens it with ``iss`` and ``launch``) and a one-line ``description`` for that page.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from fhir_server.db import CLIENTS, Database
from fhir_server.smart.scopes import ScopeError, parse_scopes

KINDS = ("public", "confidential", "backend")
_hasher = PasswordHasher()  # argon2id


class ClientError(ValueError):
    """A registration that cannot be stored; the message says why."""


@dataclass
class Client:
    client_id: str
    name: str
    kind: str
    redirect_uris: list[str] = field(default_factory=list)
    scope: str | None = None  # None: any patient/, user/ and launch scope (never system/)
    secret_hash: str | None = None
    jwks: dict[str, Any] | None = None
    jwks_url: str | None = None
    launch_url: str | None = None  # SMART EHR launch: opened from the portal's Apps page
    description: str | None = None
    # A resource server (an API gateway, another FHIR front end) may introspect tokens issued to
    # other clients; any other client learns only about its own tokens.
    resource_server: bool = False

    @property
    def is_public(self) -> bool:
        return self.kind == "public"

    @property
    def asymmetric(self) -> bool:
        return bool(self.jwks or self.jwks_url)

    def allowed_scope(self) -> str | None:
        return self.scope

    def public_view(self) -> dict[str, Any]:
        view = {k: v for k, v in asdict(self).items() if k not in ("secret_hash",) and v not in (None, [])}
        return view


def hash_secret(secret: str) -> str:
    return _hasher.hash(secret)


def _verify(secret_hash: str, secret: str) -> bool:
    try:
        return _hasher.verify(secret_hash, secret)
    except (VerificationError, InvalidHashError):
        return False


async def verify_secret(client: Client, secret: str) -> bool:
    """On a worker thread: argon2 takes tens of milliseconds of CPU, which on the event loop
    would hold up every other request."""
    if not client.secret_hash:
        return False
    return await asyncio.to_thread(_verify, client.secret_hash, secret)


def _from_doc(doc: dict[str, Any]) -> Client:
    return Client(client_id=doc["_id"], name=doc["name"], kind=doc["kind"],
                  redirect_uris=list(doc.get("redirect_uris", [])), scope=doc.get("scope"),
                  secret_hash=doc.get("secret_hash"), jwks=doc.get("jwks"), jwks_url=doc.get("jwks_url"),
                  launch_url=doc.get("launch_url"), description=doc.get("description"),
                  resource_server=bool(doc.get("resource_server")))


async def register_client(db: Database, *, name: str, kind: str, redirect_uris: list[str] | None = None,
                          scope: str | None = None, jwks: dict[str, Any] | None = None,
                          jwks_url: str | None = None, launch_url: str | None = None,
                          description: str | None = None, resource_server: bool = False
                          ) -> tuple[Client, str | None]:
    """Store a client; returns it and, for a symmetric confidential client, its secret (shown once)."""
    redirect_uris = list(redirect_uris or [])
    if kind not in KINDS:
        raise ClientError(f"kind must be one of {', '.join(KINDS)}.")
    if kind in ("public", "confidential") and not redirect_uris:
        raise ClientError(f"A {kind} client needs at least one redirect URI.")
    for uri in redirect_uris:
        if not uri.startswith(("https://", "http://")) or "#" in uri:
            raise ClientError(f"'{uri}' is not an absolute http(s) redirect URI without a fragment.")
    if launch_url is not None:
        if kind == "backend":
            raise ClientError("A back-end client cannot be launched from the portal; --launch-url is for apps.")
        if not launch_url.startswith(("https://", "http://")) or "#" in launch_url:
            raise ClientError(f"'{launch_url}' is not an absolute http(s) launch URL without a fragment.")
    if resource_server and kind == "public":
        raise ClientError("A resource server must authenticate: register it as --confidential or --backend.")
    if kind == "backend" and not (jwks or jwks_url):
        raise ClientError("A back-end client needs a JWK Set (--jwks FILE) or a --jwks-url.")
    if jwks is not None and not isinstance(jwks.get("keys"), list):
        raise ClientError("The JWK Set must be a JSON object with a 'keys' list.")
    if scope is not None:
        try:
            grants = parse_scopes(scope)
        except ScopeError as exc:
            raise ClientError(str(exc)) from None
        if kind == "backend" and any(g.context != "system" for g in grants):
            raise ClientError("A back-end client may only have system/ scopes.")
    elif kind == "backend":
        scope = "system/*.rs"
    secret = None
    secret_hash = None
    if kind == "confidential" and not (jwks or jwks_url):
        secret = secrets.token_urlsafe(32)
        secret_hash = await asyncio.to_thread(hash_secret, secret)  # off the event loop, as verify_secret
    client = Client(client_id=secrets.token_urlsafe(16), name=name, kind=kind, redirect_uris=redirect_uris,
                    scope=scope, secret_hash=secret_hash, jwks=jwks, jwks_url=jwks_url, launch_url=launch_url,
                    description=(description or "").strip() or None, resource_server=resource_server)
    doc = {k: v for k, v in asdict(client).items() if v is not None and v is not False}
    doc["_id"] = doc.pop("client_id")
    doc["created"] = datetime.now(UTC)
    await db[CLIENTS].insert_one(doc)
    return client, secret


async def get_client(db: Database, client_id: str | None) -> Client | None:
    if not client_id:
        return None
    doc = await db[CLIENTS].find_one({"_id": client_id})
    return _from_doc(doc) if doc else None


async def list_clients(db: Database) -> list[Client]:
    return [_from_doc(d) async for d in db[CLIENTS].find({}).sort("created", 1)]


async def launchable_clients(db: Database) -> list[Client]:
    """The apps a portal user can open (EHR launch): those registered with a launch URL."""
    cursor = db[CLIENTS].find({"launch_url": {"$exists": True}}).sort("name", 1)
    return [_from_doc(d) async for d in cursor]


async def remove_client(db: Database, client_id: str) -> bool:
    result = await db[CLIENTS].delete_one({"_id": client_id})
    return result.deleted_count == 1
