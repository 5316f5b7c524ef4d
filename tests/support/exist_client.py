"""Helpers for tests of the Exist client (mqtt_bridge.exist.client) against ``responses``:
the fake base URL and token, a fake clock, a write-echoing callback and the bodies sent."""

from __future__ import annotations

import json
from collections.abc import Callable

import responses

BASE = "https://exist.test"
API = BASE + "/api/2"
TOKEN = "0123456789abcdef0123456789abcdef01234567"


class FakeClock:
    """POSIX seconds that only move when told to; ``sleep`` records and advances."""

    def __init__(self, start: float = 1_700_000_000.0):
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


def echo_write(
    fail: Callable[[dict], tuple[str, str] | None] = lambda item: None,
    extra: Callable[[dict], dict] = lambda item: {},
) -> Callable:
    """A ``responses`` callback answering a write like Exist: items are echoed into ``success``,
    or into ``failed`` with ``error_code``/``error`` when ``fail(item)`` returns them."""

    def callback(request):
        items = json.loads(request.body)
        success, failed = [], []
        for item in items:
            problem = fail(item)
            if problem:
                failed.append({**item, "error_code": problem[0], "error": problem[1]})
            else:
                success.append({**item, **extra(item)})
        status = 202 if failed else 200
        return status, {}, json.dumps({"success": success, "failed": failed})

    return callback


def bodies(rsps: responses.RequestsMock, path: str) -> list[list[dict]]:
    """The JSON bodies of every call to ``path`` so far."""
    return [json.loads(c.request.body) for c in rsps.calls if c.request.path_url.startswith(path)]
