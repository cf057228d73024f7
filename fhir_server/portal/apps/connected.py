"""The apps a portal user has connected to the record in view, and disconnecting them.

An app is "connected" while it holds a usable refresh token (``offline_access`` or
``online_access``) that this account approved for this patient. The authorization server
keeps those as refresh-token chains; disconnecting revokes every chain the account holds for
that app and patient through the SMART code (``revoke_chain``), which also revokes the access
tokens issued from them: the app's next refresh gets ``invalid_grant`` and its next FHIR call a 401.
A delegate sees and disconnects only the apps they connected themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fhir_server.services import Services
from fhir_server.smart import grant_refresh_token
from fhir_server.smart.clients import get_client
from fhir_server.smart.scopes import ScopeError, describe, parse_grant

# Scopes that say nothing about what the app may see or do once connected.
_QUIET = {"launch", "launch/patient"}


@dataclass(frozen=True)
class ConnectedApp:
    client_id: str
    name: str
    permissions: list[str]  # the granted scopes in plain words
    since: datetime
    last_used: datetime | None  # the last time it renewed its access, when after connecting
    chains: tuple[str, ...]


def plain_permissions(scope: str) -> list[str]:
    """The granted scopes in plain words, each sentence once: what it may see and do first."""
    out: list[str] = []
    for item in sorted(scope.split(), key=lambda s: _safe_grant(s) is None):
        if item in _QUIET:
            continue
        try:
            text = describe(item)
        except (ScopeError, AssertionError):
            text = item  # a scope this server does not describe: show it as granted
        if text not in out:
            out.append(text)
    return out


def _safe_grant(scope: str) -> object | None:
    try:
        return parse_grant(scope)
    except ScopeError:
        return None


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _issued(doc: dict[str, Any]) -> datetime:
    """When the token was issued; tokens stored before ``created`` existed: from their lifetime."""
    if doc.get("created"):
        return _aware(doc["created"])
    offline = "offline_access" in doc["authorization"]["scope"].split()
    ttl = grant_refresh_token.OFFLINE_TTL if offline else grant_refresh_token.ONLINE_TTL
    return _aware(doc["expires_at"]) - timedelta(seconds=ttl)


def _group(docs: list[dict[str, Any]], names: dict[str, str]) -> list[ConnectedApp]:
    by_client: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        by_client.setdefault(doc["authorization"]["client_id"], []).append(doc)
    apps = []
    for client_id, group in by_client.items():
        scope = " ".join(dict.fromkeys(s for d in group for s in d["authorization"]["scope"].split()))
        issued = [_issued(d) for d in group]
        since = min(_aware(d["since"]) if d.get("since") else i for d, i in zip(group, issued, strict=True))
        last = max(issued)
        apps.append(ConnectedApp(client_id=client_id, name=names.get(client_id, "An app no longer registered"),
                                 permissions=plain_permissions(scope), since=since,
                                 last_used=last if last > since else None,
                                 chains=tuple(d["chain"] for d in group)))
    return sorted(apps, key=lambda a: a.since, reverse=True)


async def connected_apps(services: Services, account_id: str, patient_id: str) -> list[ConnectedApp]:
    """Every app holding a usable refresh token this account approved for this patient."""
    docs = await grant_refresh_token.live_tokens(services.db, account_id, patient_id)
    names: dict[str, str] = {}
    for client_id in {d["authorization"]["client_id"] for d in docs}:
        client = await get_client(services.db, client_id)
        if client is not None:
            names[client_id] = client.name
    return _group(docs, names)


async def find(services: Services, account_id: str, patient_id: str, client_id: str) -> ConnectedApp | None:
    return next((a for a in await connected_apps(services, account_id, patient_id) if a.client_id == client_id),
                None)


async def disconnect(services: Services, account_id: str, patient_id: str, client_id: str) -> ConnectedApp | None:
    """Revoke the app's chains for this account and patient at once; None when it was not connected."""
    app = await find(services, account_id, patient_id, client_id)
    if app is None:
        return None
    for chain in app.chains:
        await grant_refresh_token.revoke_chain(services.db, chain)
    return app
