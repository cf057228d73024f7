"""Every log record the in-process test server writes during the whole session, in the JSON
format operators get, kept in one file, and the JSON log lines of every ``carespace serve`` the
tests ran as a child process; at the end of the session they must hold no demo patient's name,
birth date, contact detail or password and no token (else the run fails). The banner ``serve
--demo`` prints for the person at the terminal (demo sign-in details) is not a log line."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import pytest

from fhir_server.ops.logs import JsonFormatter, RequestIdFilter
from tests.ops.leaks import find_leaks
from tests.support.serve import SERVE_LOGS

# The server's loggers (ours and uvicorn's), not the test clients' (httpx logs whole URLs).
SERVER_LOGGERS = ("carespace", "uvicorn")


class _ServerRecords(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.name.split(".")[0] in SERVER_LOGGERS


class SessionLog:
    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="carespace-logs-")) / "server.jsonl"
        self.handler = logging.FileHandler(self.path, encoding="utf-8")
        self.handler.setLevel(logging.INFO)
        self.handler.addFilter(_ServerRecords())
        self.handler.addFilter(RequestIdFilter())
        self.handler.setFormatter(JsonFormatter())

    def text(self) -> str:
        self.handler.flush()
        return self.path.read_text(encoding="utf-8")


_session_log: SessionLog | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _session_log
    _session_log = SessionLog()
    logging.getLogger().addHandler(_session_log.handler)
    # As in production (``serve`` logs at INFO): the access lines and the server's notes.
    logging.getLogger("carespace").setLevel(logging.INFO)


@pytest.fixture(scope="session")
def session_log() -> SessionLog:
    assert _session_log is not None
    return _session_log


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _session_log is None:
        return
    leaks = find_leaks(_session_log.text())
    for path in SERVE_LOGS:
        if path.exists():
            lines = [line for line in path.read_text(errors="replace").splitlines() if line.startswith("{")]
            leaks += [f"{path.name}: {leak}" for leak in find_leaks("\n".join(lines))]
    logging.getLogger().removeHandler(_session_log.handler)
    _session_log.handler.close()
    if leaks:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter:
            reporter.write_sep("=", "patient data or tokens in the server's log", red=True)
            for leak in leaks[:50]:
                reporter.write_line(leak)
            reporter.write_line(f"(the whole log: {_session_log.path})")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
