"""The embedded database: SecantusDB run as a child process, never imported.

One server per data directory. ``serve`` starts it and records its address in
``<data-dir>/embedded-db.json`` so that other commands (import, token, invite, clients)
use the running one; when none runs, a command starts its own for its duration.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from fhir_server.errors import StartupError

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
STATE_FILE = "embedded-db.json"
# WiredTiger's cache, the bulk of the database process's memory: SecantusDB's default (1 GB)
# lets its RSS grow with the data until the cache is full; this bounds it (CARESPACE_DB_CACHE_SIZE).
DEFAULT_CACHE_SIZE = "512M"
#: glibc malloc arenas of the database process (MALLOC_ARENA_MAX; see ``_child_env``).
DEFAULT_MALLOC_ARENAS = "2"


def embedded_uri(port: int) -> str:
    # retryWrites=false: SecantusDB scans its retryable-write store on every write.
    return f"mongodb://127.0.0.1:{port}/?directConnection=true&retryWrites=false"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ping(uri: str, timeout_ms: int = 500) -> bool:
    client: MongoClient = MongoClient(uri, serverSelectionTimeoutMS=timeout_ms)
    try:
        client.admin.command("ping")
        return True
    except PyMongoError:
        return False
    finally:
        client.close()


@dataclass
class EmbeddedServer:
    """A running SecantusDB child process."""

    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path

    @property
    def uri(self) -> str:
        return embedded_uri(self.port)

    def stop(self) -> None:
        """SIGTERM, then wait; kill only if it does not stop in time."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        state = self.data_dir / STATE_FILE
        with contextlib.suppress(FileNotFoundError, ValueError):
            if json.loads(state.read_text()).get("pid") == self.process.pid:
                state.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def running_uri(data_dir: Path) -> str | None:
    """The address of the embedded server a ``serve`` started on this data dir, if it runs.

    A server whose ``serve`` died (kill -9) is an orphan holding the data dir: stop it, so
    that the next start takes over cleanly.
    """
    try:
        state = json.loads((data_dir / STATE_FILE).read_text())
        pid, owner = int(state["pid"]), int(state.get("owner", 0))
    except (FileNotFoundError, ValueError, KeyError):
        return None
    if not _alive(pid):
        return None
    if owner and not _alive(owner):
        _stop_orphan(pid)
        return None
    uri = embedded_uri(int(state["port"]))
    return uri if ping(uri) else None


def _stop_orphan(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _child_env() -> dict[str, str]:
    """The database's environment: ours, with glibc's malloc arenas bounded.

    SecantusDB serves each connection on a thread; glibc gives threads up to 8 arenas per
    core, each keeping the memory it once held, so the RSS grew with the load and never
    came back (bench/README.md, the soak). An operator's own MALLOC_ARENA_MAX wins.
    """
    env = dict(os.environ)
    env.setdefault("MALLOC_ARENA_MAX", DEFAULT_MALLOC_ARENAS)
    return env


def _die_with_parent() -> None:
    """Linux: the database gets SIGTERM when the process that started it dies, even by kill -9."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start(data_dir: Path, *, port: int | None = None, record: bool = True,
          cache_size: str = DEFAULT_CACHE_SIZE) -> EmbeddedServer:
    """Start SecantusDB on ``data_dir/db`` and wait until it answers a ping."""
    try:
        import importlib.util

        if importlib.util.find_spec("secantus") is None:
            raise ImportError
    except ImportError:
        raise StartupError(
            "The embedded database is not installed: install 'carespace[embedded]' "
            "or set MONGODB_URI to a MongoDB server."
        ) from None
    db_dir = data_dir / "db"
    db_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log_path = data_dir / "embedded-db.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "secantus", "--host", "127.0.0.1", "--port", str(port),
             "--storage-path", str(db_dir), "--log-level", "WARNING", "--cache-size", cache_size],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=_child_env(),
            # Its own process group: a Ctrl-C in the terminal reaches only us, and we stop it.
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
    server = EmbeddedServer(process, port, data_dir)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StartupError(_explain_exit(log_path, db_dir, port))
        if ping(server.uri, timeout_ms=300):
            if record:
                state = {"pid": process.pid, "port": port, "owner": os.getpid()}
                (data_dir / STATE_FILE).write_text(json.dumps(state))
            return server
        time.sleep(0.1)
    server.stop()
    raise StartupError(f"The embedded database did not answer within {START_TIMEOUT_S:.0f} s; see {log_path}.")


def _explain_exit(log_path: Path, db_dir: Path, port: int) -> str:
    tail = log_path.read_text(errors="replace")[-4000:]
    if "Device or resource busy" in tail or "resource busy" in tail.lower():
        return (f"The data directory {db_dir.parent} is already in use by another CareSpace "
                "database; stop the other 'carespace serve' or choose another --data-dir.")
    if "Address already in use" in tail or "address already in use" in tail.lower():
        return f"Port {port} is already in use; the embedded database could not start."
    last = [line for line in tail.splitlines() if line.strip()][-1:] or ["no output"]
    return f"The embedded database stopped at start-up ({last[0].strip()}); see {log_path}."


@contextlib.contextmanager
def database_for_command(data_dir: Path, mongodb_uri: str | None,
                         cache_size: str = DEFAULT_CACHE_SIZE) -> Iterator[tuple[str, bool]]:
    """Yield (uri, embedded) for a CLI command: the configured MongoDB, the running
    embedded server of this data dir, or one started for the command's duration."""
    if mongodb_uri:
        yield mongodb_uri, False
        return
    uri = running_uri(data_dir)
    if uri:
        yield uri, True
        return
    server = start(data_dir, record=False, cache_size=cache_size)
    try:
        yield server.uri, True
    finally:
        server.stop()
