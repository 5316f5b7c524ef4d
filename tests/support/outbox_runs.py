"""A real `exist-bridge run` on a state directory, for the lost-outbox tests (issue 11 item 3)."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
from pathlib import Path

from .bridge import BRIDGE_CMD, bridge_process
from .config import write_bridge_config
from .mqtt import Publisher
from .waiting import wait_until

LOST = "the outbox was lost or damaged"


def coffee_config(path: Path, mock, port: int, state: Path, delay: float = 1) -> Path:
    """One `coffees` counter fed by `button/coffee`, state in ``state``."""
    return write_bridge_config(
        path,
        url=mock.url,
        token=mock.token,
        port=port,
        state_dir=state,
        client_id="bridge-lost",
        delay=delay,
        attributes=[{"template": "coffees"}],
        mappings=[{"topic": "button/coffee", "attribute": "coffees"}],
    )


class Run:
    """`exist-bridge run` in the background, its log in a file."""

    def __init__(self, config: Path, *extra: str):
        self.log_path = config.with_suffix(f".{len(list(config.parent.glob('*.log')))}.log")
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()/kill()
        self.proc = bridge_process(config, *extra, stdout=self.log, stderr=self.log)

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_subscribed(self) -> None:
        wait_until(lambda: "subscribed to" in self.text() or self.proc.poll() is not None, 30)
        assert self.proc.poll() is None, self.text()

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        finally:
            self.log.close()

    def kill(self) -> None:
        """kill -9: nothing of the bridge's own shutdown runs."""
        self.proc.kill()
        self.proc.wait(30)
        self.log.close()


def committed(state: Path) -> int:
    """Messages committed to the outbox (read-only: never checkpoints a killed bridge's log)."""
    db = sqlite3.connect(f"{(state / 'outbox.sqlite').resolve().as_uri()}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT value FROM counters WHERE name='messages'").fetchone()
        return row[0] if row else 0
    except sqlite3.Error:
        return 0
    finally:
        db.close()


def status(config: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*BRIDGE_CMD, "status", "-c", str(config)], capture_output=True, text=True, timeout=60
    )


def used_state_dir(mock, mosquitto, tmp_path: Path) -> tuple[Path, Path]:
    """A state directory a real bridge ran on (fresh at first: it must start normally), with
    three messages taken in and sent, and the bridge stopped; (config, state)."""
    state = tmp_path / "state"
    config = coffee_config(tmp_path / "bridge.yaml", mock, mosquitto.port, state)
    run = Run(config)
    run.wait_subscribed()
    pub = Publisher(mosquitto.port)
    for _ in range(3):
        pub.publish("button/coffee", "1")
    pub.close()
    wait_until(lambda: committed(state) == 3, 30)
    wait_until(lambda: sum(mock.state.values("coffees").values()) == 3, 30)
    assert run.stop() == 0, run.text()
    return config, state


def stored_messages(state_dir: Path) -> int:
    """How many messages the bridge has committed to its outbox (acked or not yet); -1 while
    the outbox can't be read."""
    try:
        db = sqlite3.connect(f"file:{state_dir / 'outbox.sqlite'}?mode=ro", uri=True, timeout=1)
    except sqlite3.Error:
        return -1
    try:
        row = db.execute("SELECT value FROM counters WHERE name = 'messages'").fetchone()
        return row[0] if row else 0
    except sqlite3.Error:
        return -1
    finally:
        db.close()
