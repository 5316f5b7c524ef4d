"""Issue 11, item 3: a lost or damaged outbox is noticed, never silently replaced.

A real state directory is made by `exist-bridge run` (subprocess) against a real mosquitto and the
mock; then its outbox is truncated, deleted or has its pages overwritten. `exist-bridge run` must
refuse with one clear error (and change nothing), `exist-bridge status` must explain, and
`run --accept-fresh-outbox` must start afresh, keeping the old file aside. A page damaged while
the bridge runs gives one error line, not one per flush.
"""

from __future__ import annotations

import logging
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest

from mqtt_bridge.pipeline.buffer.outbox import Commit, Effect, Outbox
from mqtt_bridge.pipeline.output.flusher import Flusher

from ..support.bridge import BRIDGE_CMD, bridge_process
from ..support.config import write_bridge_config
from ..support.mqtt import Publisher
from ..support.waiting import wait_until

LOST = "the outbox was lost or damaged"


class Run:
    """`exist-bridge run` in the background, its log in a file."""

    def __init__(self, config: Path, *extra: str):
        self.log_path = config.with_suffix(f".{len(list(config.parent.glob('*.log')))}.log")
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
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


def committed(state: Path) -> int:
    db = sqlite3.connect(state / "outbox.sqlite")
    try:
        row = db.execute("SELECT value FROM counters WHERE name='messages'").fetchone()
        return row[0] if row else 0
    except sqlite3.Error:
        return 0
    finally:
        db.close()


@pytest.fixture
def used_state(mock_exist, mosquitto, tmp_path):
    """A state directory a real bridge ran on (fresh at first: it must start normally), with
    three messages taken in and sent, and the bridge stopped."""
    state = tmp_path / "state"
    config = tmp_path / "bridge.yaml"
    write_bridge_config(
        config, url=mock_exist.url, token=mock_exist.token, port=mosquitto.port,
        state_dir=state, client_id="bridge-lost", flush_interval=1,
        attributes=[{"template": "coffees"}],
        mappings=[{"topic": "button/coffee", "attribute": "coffees"}],
    )
    run = Run(config)
    run.wait_subscribed()
    pub = Publisher(mosquitto.port)
    for _ in range(3):
        pub.publish("button/coffee", "1")
    pub.close()
    wait_until(lambda: committed(state) == 3, 30)
    wait_until(lambda: sum(mock_exist.state.values("coffees").values()) == 3, 30)
    assert run.stop() == 0, run.text()
    return config, state


def corrupt_pages(path: Path) -> None:
    """Overwrite every page but the first (the schema) with garbage."""
    data = path.read_bytes()
    page = 4096
    assert len(data) > 2 * page
    path.write_bytes(data[:page] + b"\xa5" * (len(data) - page))


def status(config: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*BRIDGE_CMD, "status", "-c", str(config)], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("damage", ["truncate", "delete", "corrupt"])
def test_a_lost_outbox_stops_the_start_until_accepted(used_state, damage):
    config, state = used_state
    outbox = state / "outbox.sqlite"
    if damage == "truncate":
        outbox.write_bytes(b"")
        what = "empty (0 bytes)"
    elif damage == "delete":
        outbox.unlink()
        what = "missing"
    else:
        corrupt_pages(outbox)
        what = "damaged"
    before = outbox.read_bytes() if outbox.exists() else None

    refused = subprocess.run(
        [*BRIDGE_CMD, "run", "-c", str(config)], capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 1, refused.stderr
    errors = [line for line in refused.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and LOST in errors[0] and what in errors[0], refused.stderr
    assert "--accept-fresh-outbox" in errors[0] and "Traceback" not in refused.stderr
    assert (outbox.read_bytes() if outbox.exists() else None) == before  # nothing touched

    shown = status(config)
    assert shown.returncode == 1
    assert LOST in shown.stderr and what in shown.stderr, shown.stderr
    assert "unexpected" not in shown.stderr and "Traceback" not in shown.stderr

    run = Run(config, "--accept-fresh-outbox")
    run.wait_subscribed()
    assert run.stop() == 0
    assert "starting with a fresh outbox as asked" in run.text()
    kept = sorted(p.name for p in state.glob("outbox.sqlite.lost-*"))
    assert (len(kept) == 1) == (damage != "delete"), kept
    fine = status(config)
    assert fine.returncode == 0 and "pending totals:  0 (of 0 tracked)" in fine.stdout, fine
    again = Run(config)  # and from now on it starts without the flag
    again.wait_subscribed()
    assert again.stop() == 0


# ----------------------------------------------------------------------------- at run time


class Writer:
    def increment(self, items):  # pragma: no cover - the flush stops before
        raise AssertionError("no request expected")

    update = increment


def reraise(err: Exception):
    raise err  # as the real classifier does with what isn't Exist's


def test_a_page_damaged_at_run_time_is_one_error_line(tmp_path, caplog):
    path = tmp_path / "outbox.sqlite"
    box = Outbox(path)
    box.commit(
        [Commit(effects=[Effect(f"attr_{i}", "2024-05-06", "increment", 1) for i in range(3000)])]
    )
    root = box.db.execute("SELECT rootpage FROM sqlite_master WHERE name='totals'").fetchone()[0]
    box.close()  # checkpointed into the file

    box = Outbox(path)  # the running bridge's flusher connection
    with open(path, "r+b") as f:  # the disk damages the totals table's root page
        f.seek((root - 1) * 4096)
        f.write(b"\xa5" * 4096)
    caplog.set_level(logging.DEBUG)
    flusher = Flusher(box, Writer(), "UTC", reraise, interval=1)
    reports = [flusher.flush_once() for _ in range(6)]

    assert all(r.postponed and "state directory" in r.postponed.reason for r in reports)
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert "damaged" in errors[0].getMessage() and str(path) in errors[0].getMessage()
    assert errors[0].exc_info is None  # no traceback
    box.close()
