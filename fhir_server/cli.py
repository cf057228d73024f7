"""The ``carespace`` command: serve, import, token, invite, clients, capability.

Every command works on the same data as ``serve``: ``MONGODB_URI`` when set; otherwise the
embedded database that a running ``serve`` started for this data dir, or one started for
the command's own duration.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from fhir_server.config import Settings
from fhir_server.errors import StartupError

T = TypeVar("T")


SERVER_FILE = "server.json"


def _settings(args: argparse.Namespace, **extra: Any) -> Settings:
    """Settings from the environment; without CARESPACE_BASE_URL, the base URL the last
    ``serve`` of this data dir used, so that tokens and links match the running server."""
    values: dict[str, Any] = dict(extra)
    if getattr(args, "data_dir", None):
        values["data_dir"] = Path(args.data_dir)
    try:
        settings = Settings(**values)
    except ValidationError as exc:
        problems = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())
        raise StartupError(f"A setting in the environment is not valid ({problems}).") from None
    if "CARESPACE_BASE_URL" not in os.environ:
        with contextlib.suppress(FileNotFoundError, ValueError, KeyError):
            settings.base_url = json.loads((settings.data_dir / SERVER_FILE).read_text())["base_url"]
    return settings


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from fhir_server import embedded_db
    from fhir_server.app import create_app
    from fhir_server.ops.logs import configure as configure_logging

    settings = _settings(args, demo=args.demo)
    configure_logging(settings.log_format)
    if "CARESPACE_BASE_URL" not in os.environ:
        settings.base_url = f"http://{args.host}:{args.port}"
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / SERVER_FILE).write_text(json.dumps({"base_url": settings.base_url}))
    if not _port_free(args.host, args.port):
        raise StartupError(f"Port {args.port} on {args.host} is already in use; choose another with --port.")
    server = None
    if settings.mongodb_uri and not embedded_db.ping(settings.mongodb_uri, timeout_ms=5000):
        raise StartupError("MongoDB at MONGODB_URI does not answer; check the address, credentials and network.")
    if not settings.mongodb_uri:
        if embedded_db.running_uri(settings.data_dir):
            raise StartupError(f"Another 'carespace serve' is already using the data directory {settings.data_dir}.")
        server = embedded_db.start(settings.data_dir, cache_size=settings.db_cache_size)
        settings.mongodb_uri = server.uri
        settings.embedded_db = True
    def stop_on_sigterm(signum: int, frame: object) -> None:
        # uvicorn re-raises the signal after its graceful shutdown; exiting through
        # SystemExit lets the finally below stop the embedded database.
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop_on_sigterm)
    try:
        if args.workers > 1:
            _serve_workers(settings, args)
            return 0
        app = create_app(settings)
        # Our access line (ops/logs.py) replaces uvicorn's; SIGTERM waits for requests in
        # flight at most shutdown_timeout seconds, then the lifespan closes the services.
        config = uvicorn.Config(app, host=args.host, port=args.port, **_uvicorn_options(settings))
        uvicorn_server = uvicorn.Server(config)
        app.state.on_ready = lambda: _announce(settings)
        uvicorn_server.run()
    finally:
        if server:
            # Last, once requests are done and the services are closed.
            server.stop()
            logging.getLogger("carespace").info("The embedded database has stopped.")
    return 0


def _serve_workers(settings: Settings, args: argparse.Namespace) -> None:
    """``--workers N``: N server processes on one port (uvicorn's supervisor). Everything they
    must agree on lives in the database; this process started the embedded one and runs the
    start-up work (demo data, indexes) once, before the workers share it."""
    import uvicorn

    from fhir_server.app import SETTINGS_ENV, create_app

    async def start_once() -> None:
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            pass

    asyncio.run(start_once())
    os.environ[SETTINGS_ENV] = settings.model_dump_json()
    _announce(settings)
    uvicorn.run("fhir_server.app:app_from_environment", factory=True, workers=args.workers, host=args.host,
                port=args.port, **_uvicorn_options(settings))


def _uvicorn_options(settings: Settings) -> dict[str, Any]:
    """What one server process and ``--workers N`` alike run with."""
    return {"log_level": "info", "log_config": None, "access_log": False, "proxy_headers": True,
            "server_header": False, "timeout_keep_alive": settings.keep_alive_timeout,
            "timeout_graceful_shutdown": int(settings.shutdown_timeout)}


def _announce(settings: Settings) -> None:
    lines = [f"\nCareSpace is running: open {settings.base_url}/",
             f"FHIR API: {settings.fhir_base}  (metadata: {settings.fhir_base}/metadata)"]
    if settings.demo:
        from fhir_server.portal.demo_accounts import accounts_table

        lines += ["\nDemo sign-in accounts:", accounts_table()]
        if not settings.smtp_url:
            lines.append(f"\nMail goes to the outbox (this link carries its secret, new at each start):\n"
                         f"    {settings.outbox_link}")
    print("\n".join(lines), flush=True)


def _run_with_store(args: argparse.Namespace, work: Callable[[Any, Settings], Awaitable[T]]) -> T:
    """Run ``work(services, settings)`` against the command's database."""
    from fhir_server import embedded_db
    from fhir_server.services import build_services

    settings = _settings(args)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with embedded_db.database_for_command(settings.data_dir, settings.mongodb_uri,
                                          settings.db_cache_size) as (uri, embedded):
        settings.mongodb_uri, settings.embedded_db = uri, embedded

        async def main() -> T:
            services = await build_services(settings)
            try:
                return await work(services, settings)
            finally:
                await services.db.close()

        return asyncio.run(main())


def cmd_token(args: argparse.Namespace) -> int:
    from fhir_server.smart.scopes import ScopeError, parse_scopes
    from fhir_server.smart.tokens import issue_access_token

    try:
        grants = parse_scopes(args.scope)
    except ScopeError as exc:
        raise StartupError(str(exc)) from None
    if not grants or any(g.context != "system" for g in grants):
        raise StartupError("carespace token issues practice administration tokens: use system/ scopes, "
                           "e.g. --scope 'system/*.rs'.")
    from fhir_server.smart import keys

    settings = _settings(args)
    key = keys.load_or_create(settings.data_dir)
    token, _ = issue_access_token(key, issuer=settings.base_url, audience=settings.fhir_base,
                                  subject="carespace-admin", scope=args.scope, ttl=args.ttl,
                                  extra={"client_id": "carespace-cli"})
    print(token)
    return 0


def cmd_capability(args: argparse.Namespace) -> int:
    from fhir_server.resources.capabilities import capability_statement

    print(json.dumps(capability_statement(_settings(args).base_url), indent=2))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from fhir_server import mail, messaging
    from fhir_server.importer import import_paths
    from fhir_server.notices import send as notices

    # The same side effects as a write through the server: message rules, notices by email.
    messaging.register()
    notices.register()

    async def work(services: Any, settings: Settings) -> int:
        report = await import_paths(services, [Path(p) for p in args.paths])
        print(report.summary())
        await mail.drain(wait_at_most=120)  # the notices still on their way
        return 0 if not report.failures else 1

    return _run_with_store(args, work)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="carespace", description=__doc__.splitlines()[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", default=os.environ.get("CARESPACE_DATA_DIR"),
                        help="where the embedded database and the server key live (default ./var)")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", parents=[common], help="serve the FHIR API, SMART and the portal")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--demo", action="store_true", help="load the demo practice and turn on the dev outbox")
    serve.add_argument("--workers", type=int, default=1,
                       help="server processes sharing the port and the database (default 1)")
    serve.set_defaults(func=cmd_serve)

    imp = sub.add_parser("import", parents=[common], help="import FHIR Bundles and NDJSON files or folders")
    imp.add_argument("paths", nargs="+")
    imp.set_defaults(func=cmd_import)

    token = sub.add_parser("token", parents=[common], help="print an access token with system scopes")
    token.add_argument("--scope", required=True)
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (default 3600)")
    token.set_defaults(func=cmd_token)

    cap = sub.add_parser("capability", parents=[common], help="print the CapabilityStatement")
    cap.set_defaults(func=cmd_capability)

    for register in _extensions():
        register(sub, common)
    return parser


def _extensions() -> list[Callable[[Any, argparse.ArgumentParser], None]]:
    """Commands that other rooms add (invite: portal; clients: smart; staff: practice; backup, restore: ops)."""
    found = []
    for module_name in ("fhir_server.smart.cli", "fhir_server.portal.cli", "fhir_server.practice.cli",
                        "fhir_server.ops.cli"):
        try:
            module = __import__(module_name, fromlist=["register"])
        except ModuleNotFoundError:
            continue
        found.append(module.register)
    return found


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except StartupError as exc:
        print(f"carespace: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
