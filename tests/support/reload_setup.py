"""The reload tests' bridge: a configuration rewritten between steps, ``exist-bridge run`` as a
subprocess logging to a file, the mock's values and the outbox's pending rows to wait on."""

from __future__ import annotations

import sqlite3

from mqtt_bridge.diagnose.reload_command import last_reload
from mqtt_bridge.pipeline.buffer.rules import PENDING

from .config import write_bridge_config
from .waiting import wait_until

ATTRIBUTES = [
    {"name": name, "label": name.replace("_", " ").capitalize(), "group": "custom", "value_type": 0}
    for name in ("energy", "button_presses", "door_opens")
]
BELL = {"name": "bell_rings", "label": "Bell rings", "group": "custom", "value_type": 0}
METER = {"topic": "home/meter", "attribute": "energy", "mode": "counter", "json_path": "total"}
BUTTON = {"topic": "home/button", "attribute": "button_presses"}
DOOR = {"topic": "home/door", "attribute": "door_opens"}
RING = {"topic": "home/bell", "attribute": "bell_rings"}


class Setup:
    def __init__(self, mock, broker, tmp_path):
        self.mock, self.broker = mock, broker
        self.path = tmp_path / "bridge.yaml"
        self.state = tmp_path / "state"
        self.log = tmp_path / "bridge.log"

    def write(self, attributes, mappings, mqtt=None) -> None:
        write_bridge_config(
            self.path,
            url=self.mock.url,
            token=self.mock.token,
            port=self.broker.port,
            state_dir=self.state,
            client_id="bridge-reload",
            delay=1,
            attributes=attributes,
            mappings=mappings,
            mqtt=mqtt,
        )

    def values(self, *names: str) -> dict[str, int]:
        return {n: sum(v or 0 for v in self.mock.state.values(n).values()) for n in names}

    def quiet(self) -> bool:
        db = sqlite3.connect(self.state / "outbox.sqlite")
        try:
            return not db.execute(f"SELECT 1 FROM totals WHERE {PENDING}").fetchall()
        finally:
            db.close()

    def landed(self, expected: dict[str, int]) -> None:
        try:
            wait_until(lambda: self.values(*expected) == expected and self.quiet(), timeout=30)
        except AssertionError:
            raise AssertionError(
                f"expected {expected}, Exist has {self.values(*expected)}"
            ) from None

    def reloaded(self, before) -> dict:
        wait_until(lambda: last_reload(self.state) not in (None, before), timeout=30)
        record = last_reload(self.state)
        assert record is not None
        return record

    def text(self) -> str:
        return self.log.read_text()
