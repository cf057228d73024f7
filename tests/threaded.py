"""Run a coroutine to completion from a test, whatever loop the thread already runs.

The session's sync Playwright keeps an event loop running on the test thread, so
``asyncio.run`` there fails; a thread of its own gives the coroutine a fresh loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_coroutine(coroutine: Coroutine[Any, Any, T]) -> T:
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
