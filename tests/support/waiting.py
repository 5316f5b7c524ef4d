"""Waiting for a condition instead of sleeping."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(
    predicate: Callable[[], object],
    timeout: float = 15.0,
    interval: float = 0.02,
    message: str | Callable[[], str] = "timed out waiting",
) -> None:
    """Poll ``predicate`` until it is truthy; ``AssertionError(message)`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(message() if callable(message) else message)
