"""``carespace clients add/list/remove``: register SMART apps and back-end clients."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from fhir_server.errors import StartupError


def _add(args: argparse.Namespace) -> int:
    from fhir_server.cli import _run_with_store
    from fhir_server.smart.clients import ClientError, register_client

    kind = "public" if args.public else "confidential" if args.confidential else "backend"
    jwks = None
    if args.jwks:
        try:
            jwks = json.loads(Path(args.jwks).read_text())
        except (OSError, ValueError) as exc:
            raise StartupError(f"Cannot read the JWK Set {args.jwks}: {exc}") from None

    async def work(services: Any, settings: Any) -> int:
        try:
            client, secret = await register_client(services.db, name=args.name, kind=kind,
                                                   redirect_uris=args.redirect_uri, scope=args.scope,
                                                   jwks=jwks, jwks_url=args.jwks_url,
                                                   launch_url=args.launch_url, description=args.description,
                                                   resource_server=args.resource_server)
        except ClientError as exc:
            raise StartupError(str(exc)) from None
        out = client.public_view()
        if secret:
            out["client_secret"] = secret
        print(json.dumps(out, indent=2))
        return 0

    return _run_with_store(args, work)


def _list(args: argparse.Namespace) -> int:
    from fhir_server.cli import _run_with_store
    from fhir_server.smart.clients import list_clients

    async def work(services: Any, settings: Any) -> int:
        print(json.dumps([c.public_view() for c in await list_clients(services.db)], indent=2))
        return 0

    return _run_with_store(args, work)


def _remove(args: argparse.Namespace) -> int:
    from fhir_server.cli import _run_with_store
    from fhir_server.smart.clients import remove_client

    async def work(services: Any, settings: Any) -> int:
        if not await remove_client(services.db, args.client_id):
            raise StartupError(f"No client with id {args.client_id}.")
        print(f"Removed client {args.client_id}.")
        return 0

    return _run_with_store(args, work)


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    clients = sub.add_parser("clients", help="register SMART apps and back-end clients")
    actions = clients.add_subparsers(dest="action", required=True)

    add = actions.add_parser("add", parents=[common], help="register a client; prints its client_id as JSON")
    add.add_argument("--name", required=True)
    kind = add.add_mutually_exclusive_group(required=True)
    kind.add_argument("--public", action="store_true", help="a browser or mobile app (PKCE, no secret)")
    kind.add_argument("--confidential", action="store_true",
                      help="an app with a secret (printed once), or with --jwks/--jwks-url for private_key_jwt")
    kind.add_argument("--backend", action="store_true", help="a back-end service (client_credentials)")
    add.add_argument("--redirect-uri", nargs="+", default=[], metavar="URI")
    keys = add.add_mutually_exclusive_group()
    keys.add_argument("--jwks", metavar="FILE", help="the client's public JWK Set (JSON file)")
    keys.add_argument("--jwks-url", metavar="URL", help="where the client publishes its JWK Set")
    add.add_argument("--scope", help="the scopes the client may have (back-end default: system/*.rs)")
    add.add_argument("--launch-url", metavar="URL",
                     help="the app's SMART launch URL: patients can open it from the portal's Apps page")
    add.add_argument("--description", metavar="TEXT", help="one line about the app, shown on the Apps page")
    add.add_argument("--resource-server", action="store_true",
                     help="may introspect tokens issued to other clients (an API gateway, a resource server)")
    add.set_defaults(func=_add)

    lst = actions.add_parser("list", parents=[common], help="list registered clients")
    lst.set_defaults(func=_list)

    rm = actions.add_parser("remove", parents=[common], help="remove a client")
    rm.add_argument("client_id")
    rm.set_defaults(func=_remove)
