"""``carespace serve`` (and the other commands) as child processes, the way an operator runs them.

A server is ready when ``/readyz`` says so. Its output goes to a file: a pipe nobody reads fills
up with the per-request log lines and then blocks the server in the middle of a request."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

CARESPACE = [sys.executable, "-m", "fhir_server.cli"]
# Every served process's output file, for the session-wide scan of the logs (tests/ops/conftest.py).
SERVE_LOGS: list[Path] = []


def env(**extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MONGODB_URI", "CARESPACE_"))}
    return {**clean, **extra}


def carespace(data_dir: Path, *args: str, timeout: float = 300,
              environment: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CARESPACE, *args, "--data-dir", str(data_dir)], env=env(**(environment or {})),
                          capture_output=True, text=True, timeout=timeout)


class Serve:
    def __init__(self, data_dir: Path, port: int, *extra: str, environment: dict[str, str] | None = None) -> None:
        self.data_dir, self.port, self.url = data_dir, port, f"http://127.0.0.1:{port}"
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = data_dir.parent / f"serve-{port}-{time.monotonic_ns()}.log"
        SERVE_LOGS.append(self.log_path)
        with self.log_path.open("wb") as log:
            command = [*CARESPACE, "serve", "--port", str(port), "--data-dir", str(data_dir), *extra]
            self.process = subprocess.Popen(command, env=env(**{"CARESPACE_LOG_FORMAT": "json", **(environment or {})}),
                                            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180  # --demo loads the practice first; the machine may be busy
        while not self.ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                raise AssertionError(self.log_path.read_text())
            time.sleep(0.2)

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/readyz", timeout=3).status_code == 200
        except httpx.HTTPError:
            return False

    def carespace(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Another command on this server's data dir (it uses the running database)."""
        return carespace(self.data_dir, *args)

    def token(self, scope: str = "system/*.cruds") -> str:
        result = carespace(self.data_dir, "token", "--scope", scope)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=f"{self.url}/fhir", timeout=60,
                            headers={"Authorization": f"Bearer {self.token()}",
                                     "Content-Type": "application/fhir+json"})

    def log_entries(self) -> list[dict]:
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line.startswith("{")]

    def database_pid(self) -> int:
        return database_pid(self.data_dir)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        # SIGTERM's budget: CARESPACE_SHUTDOWN_TIMEOUT (20 s) for requests in flight, as much for
        # mail being delivered, then the database's own stop; a loaded CI machine needs slack.
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(120)


def database_pid(data_dir: Path) -> int:
    """The embedded database a ``serve`` of this data dir started."""
    return int(json.loads((data_dir / "embedded-db.json").read_text())["pid"])


def alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped is not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False
