"""A household's ``exist-bridge run`` as a subprocess that tests kill (SIGKILL) and start again,
reload (SIGHUP) and finally stop; what each account's user has in the mock."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from mqtt_bridge.diagnose.reload_command import last_reload
from mqtt_bridge.pipeline.buffer.rules import PENDING

from ..support.bridge import bridge_process
from ..support.faults import FAULT_ATTRIBUTES
from ..support.mqtt import Publisher
from ..support.outbox_runs import stored_messages
from ..support.waiting import wait_until
from .household import household_config

ATTRIBUTES = ("coffees", "fridge_opens", "door_opens")


def household_file(
    mock, port: int, tmp_path: Path, bob_token: str, mappings: list[dict], **params
) -> Path:
    """Write the household's configuration (alice first, bob; ``ATTRIBUTES``) with
    ``mappings`` to ``tmp_path/bridge.yaml``; its path."""
    path = tmp_path / "bridge.yaml"
    write_household(path, mock, port, tmp_path, bob_token, mappings, **params)
    return path


def write_household(
    path: Path, mock, port: int, tmp_path: Path, bob_token: str, mappings: list[dict], **params
) -> None:
    """(Re)write the household's configuration at ``path``."""
    text = household_config(
        mock,
        port,
        tmp_path / "state",
        bob_token,
        delay=1,
        client_id="household-kill9",
        mappings=mappings,
        attributes=params.pop("attributes", FAULT_ATTRIBUTES),
        **params,
    )
    path.write_text(text)


def landed(mock, username: str) -> dict[str, int]:
    """What ``username`` has in the mock, summed over the days, per attribute (none: left out)."""
    out: Counter[str] = Counter()
    for name in ATTRIBUTES:
        for value in mock.state.values(name, username=username).values():
            out[name] += value or 0
    return {k: v for k, v in out.items() if v}


def outbox_counters(state_dir: Path) -> dict[str, int]:
    db = sqlite3.connect(state_dir / "outbox.sqlite")
    try:
        return dict(db.execute("SELECT name, value FROM counters"))
    finally:
        db.close()


class KillRun:
    """The bridge on ``config`` (acks 0.3 s after each stored batch), a publisher, and the log
    ``tmp_path/bridge.log`` that every start appends to."""

    def __init__(self, config: Path, tmp_path: Path, port: int, ack_delay: float = 0.3):
        self.config, self.state = config, tmp_path / "state"
        self.log_path = tmp_path / "bridge.log"
        self.ack_delay = ack_delay
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - closed by close()
        self.kills = 0
        self.published = 0
        self.last_start = 0
        self.bridge = self._start()
        self.publisher = Publisher(port, client_id="household-pub")

    def _start(self) -> subprocess.Popen:
        self.last_start = self.log_path.stat().st_size
        return bridge_process(
            self.config, ack_delay=self.ack_delay, stdout=self.log, stderr=self.log
        )

    def text(self) -> str:
        return self.log_path.read_text()

    def tail(self) -> str:
        return self.text()[-3000:]

    def up(self) -> bool:
        """The last bridge started has subscribed (its signal handlers are set)."""
        return "subscribed to" in self.text()[self.last_start :]

    def wait_up(self) -> None:
        wait_until(self.up, timeout=30)

    def publish(self, topic: str, payload: str) -> None:
        self.publisher.publish(topic, payload)
        self.published += 1

    def wait_stored(self, timeout: float = 5) -> None:
        """Until the bridge stores more messages (a kill now: stored, not yet acknowledged)."""
        seen = stored_messages(self.state)
        deadline = time.monotonic() + timeout
        while stored_messages(self.state) <= seen and time.monotonic() < deadline:
            time.sleep(0.01)

    def wait_applied(self, mock, timeout: float = 5) -> None:
        """Until the mock applies another update (a kill now: applied, not yet answered)."""
        seen = len(mock.state.ledger())
        deadline = time.monotonic() + timeout
        while len(mock.state.ledger()) == seen and time.monotonic() < deadline:
            time.sleep(0.01)

    def kill_and_restart(self) -> None:
        self.bridge.send_signal(signal.SIGKILL)
        self.bridge.wait(10)
        self.kills += 1
        self.bridge = self._start()

    def quiet(self) -> bool:
        """Nothing pending in the outbox, for any account."""
        return self.pending() == {}

    def pending(self) -> dict[str, int]:
        """The outbox's pending rows per account (None for each when it can't be read)."""
        db = sqlite3.connect(self.state / "outbox.sqlite")
        try:
            sql = f"SELECT account, COUNT(*) FROM totals WHERE {PENDING} GROUP BY account"
            return dict(db.execute(sql).fetchall())
        except sqlite3.Error:
            return {"?": -1}
        finally:
            db.close()

    def reload(self) -> dict:
        """SIGHUP, and the outcome the bridge recorded."""
        asked = time.time()
        self.bridge.send_signal(signal.SIGHUP)

        def recorded() -> bool:
            record = last_reload(self.state)
            return record is not None and record["at"] >= asked

        wait_until(recorded, timeout=30)
        record = last_reload(self.state)
        assert record is not None
        return record

    def restart(self) -> None:
        """A clean stop (SIGTERM), and a start."""
        self.stop()
        self.bridge = self._start()
        self.wait_up()

    def settle(self, done: Callable[[], bool], timeout: float = 60) -> None:
        """Until the last bridge is up and ``done()`` (then the test asserts what it wants)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not (self.up() and done()):
            time.sleep(0.2)

    def stop(self) -> None:
        """SIGTERM: a clean stop."""
        self.bridge.send_signal(signal.SIGTERM)
        assert self.bridge.wait(30) == 0, self.tail()

    def close(self) -> None:
        if self.bridge.poll() is None:
            self.bridge.kill()
            self.bridge.wait(10)
        self.log.close()
        self.publisher.close()
