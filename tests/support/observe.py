"""A stand-in for the running bridge, for the HTTP endpoint's tests (mqtt_bridge.observe)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mqtt_bridge.observe import HttpEndpoint, LiveState, Tally


class View:
    """What HttpEndpoint reads: a LiveState the test may replace, and a Tally."""

    def __init__(self, state: LiveState):
        self.state = state
        self.tally = Tally()

    def live(self) -> LiveState:
        return self.state


def running_view(tmp_path: Path, **fields: Any) -> View:
    """A View of a bridge running and connected to ``broker.lan:1883``, its outbox in
    ``tmp_path``; ``fields`` set or override LiveState's other fields."""
    state = {
        "version": "9.9.9",
        "phase": "running",
        "broker": "broker.lan:1883",
        "broker_connected": True,
        "outbox_path": tmp_path / "outbox.sqlite",
        **fields,
    }
    return View(LiveState(**state))


@contextmanager
def serving(view: View) -> Iterator[HttpEndpoint]:
    """The HTTP endpoint over ``view`` on 127.0.0.1 (a free port), stopped on leaving."""
    endpoint = HttpEndpoint(view, "127.0.0.1", 0).start()
    try:
        yield endpoint
    finally:
        endpoint.stop()
