"""One embedded database and one running server per test session, over real sockets."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from aiosmtpd.controller import Controller
from playwright.sync_api import Browser, sync_playwright
from pymongo import MongoClient

from fhir_server import embedded_db
from fhir_server.app import create_app
from fhir_server.config import Settings
from fhir_server.smart import keys
from fhir_server.smart.tokens import issue_access_token
from tests.mailbox import Mailbox
from tests.support.shared_data import SHARED_DATA  # noqa: F401  (re-exported: tests import it from here)

# Debian's Chromium, never a downloaded browser; no background traffic on a closed network.
# Tokens the fixtures issue must outlive any run (a full run takes minutes, a slow CI hours):
# a token that expired mid-run would fail tests with 401s far from the cause.
TEST_TOKEN_TTL = 7 * 24 * 3600
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@dataclass
class RunningServer:
    url: str
    settings: Settings
    mongo_uri: str

    @property
    def fhir(self) -> str:
        return f"{self.url}/fhir"

    def token(self, scope: str = "system/*.cruds", *, ttl: int = TEST_TOKEN_TTL, **claims: object) -> str:
        """A token signed with the server's key, valid for ``ttl`` seconds (by default longer than any run)."""
        key = keys.load_or_create(self.settings.data_dir)
        token, _ = issue_access_token(key, issuer=self.settings.base_url, audience=self.settings.fhir_base,
                                      subject=str(claims.pop("sub", "test-admin")), scope=scope, ttl=ttl,
                                      extra={"client_id": "tests", **claims})
        return token

    def client(self, scope: str = "system/*.cruds", **claims: object) -> httpx.Client:
        return httpx.Client(base_url=self.fhir, timeout=60,
                            headers={"Authorization": f"Bearer {self.token(scope, **claims)}",
                                     "Accept": "application/fhir+json"})


# The longest files first: `make test` runs two xdist workers that each take whole files in
# collection order, so a long file collected last would keep one worker busy while the other idles.
LONGEST_FIRST = ("tests/test_crash.py", "tests/ops/test_backup.py", "tests/ops/test_shutdown.py",
                 "tests/test_cli.py", "tests/test_serve_workers.py", "tests/portal/test_accessibility.py",
                 "tests/ops/test_health.py", "tests/resources/test_record_queries_indexed.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))  # stable: the rest keep order


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("carespace")


@pytest.fixture(scope="session")
def mongo_uri(data_dir: Path) -> Iterator[str]:
    server = embedded_db.start(data_dir / "embedded", record=False)
    try:
        yield server.uri
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mongo(mongo_uri: str) -> Iterator[MongoClient]:
    client: MongoClient = MongoClient(mongo_uri, tz_aware=True)
    yield client
    client.close()


@pytest.fixture(scope="session")
def smtp() -> Iterator[Mailbox]:
    """A real SMTP server (aiosmtpd) that the test server sends its mail to."""
    mailbox, port = Mailbox(), embedded_db.free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    mailbox.url = f"smtp://127.0.0.1:{port}"
    try:
        yield mailbox
    finally:
        controller.stop()


@contextmanager
def serve(settings: Settings, mongo_uri: str) -> Iterator[RunningServer]:
    """The app with these settings on a free port, in a thread of this process, until the block ends."""
    port = embedded_db.free_port()
    url = f"http://127.0.0.1:{port}"
    settings = settings.model_copy(update={"base_url": url})
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not uv.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield RunningServer(url=url, settings=settings, mongo_uri=mongo_uri)
    finally:
        uv.should_exit = True
        thread.join(30)


@pytest.fixture(scope="session")
def server(data_dir: Path, mongo_uri: str, smtp: Mailbox) -> Iterator[RunningServer]:
    settings = Settings(mongodb_uri=mongo_uri, base_url="http://127.0.0.1", data_dir=data_dir / "server",
                        database_name="carespace_test", demo=True, embedded_db=True, smtp_url=smtp.url)
    with serve(settings, mongo_uri) as running:
        yield running


@pytest.fixture
def start_server(server: RunningServer, tmp_path: Path) -> Callable[..., AbstractContextManager[RunningServer]]:
    """Another server for a test that needs other settings (never change the shared one's):
    ``with start_server(smtp_url=None) as other:`` — its own database and data dir by default."""
    def start(**changes: Any) -> AbstractContextManager[RunningServer]:
        changes = {"database_name": f"carespace_{uuid.uuid4().hex[:8]}", "data_dir": tmp_path / "server", **changes}
        return serve(server.settings.model_copy(update=changes), server.mongo_uri)
    return start


@pytest.fixture(scope="session")
def admin(server: RunningServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def db(mongo: MongoClient, server: RunningServer):  # type: ignore[no-untyped-def]
    """The test server's database, for checking what was (not) written."""
    return mongo[server.settings.database_name]
