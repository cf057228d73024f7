"""The sample data beside the checkout (``../shared/data``): a skip on a laptop, a failure in CI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def require_shared_data(path: Path | None = None) -> Path:
    """``path`` (default: the data folder) when it exists. When it is missing the test skips,
    except in CI (``CI`` set, as CI services do): there a missing file is a broken set-up, and a
    green run that skipped the tests that need it would hide that."""
    path = path or SHARED_DATA
    if not path.exists():
        message = f"sample data {path} is missing (expected ../shared/data beside the checkout)"
        if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
            pytest.fail(f"{message}; CI must provide it", pytrace=False)
        pytest.skip(message)
    return path
