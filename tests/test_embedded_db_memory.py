"""The embedded database runs with glibc's malloc arenas bounded (its RSS grew without end)."""

from __future__ import annotations

import os
from pathlib import Path

from fhir_server.embedded_db import DEFAULT_MALLOC_ARENAS


def _environ_of_database(storage: Path) -> dict[str, str]:
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if b"secantus" in cmdline and str(storage).encode() in cmdline:
                raw = Path(f"/proc/{pid}/environ").read_bytes()
                return dict(item.decode(errors="replace").partition("=")[::2] for item in raw.split(b"\0") if item)
        except OSError:
            continue
    raise AssertionError(f"no database process serves {storage}")


def test_the_database_child_has_bounded_malloc_arenas(mongo_uri: str, data_dir: Path) -> None:
    env = _environ_of_database(data_dir / "embedded" / "db")
    assert env.get("MALLOC_ARENA_MAX") == os.environ.get("MALLOC_ARENA_MAX", DEFAULT_MALLOC_ARENAS)
