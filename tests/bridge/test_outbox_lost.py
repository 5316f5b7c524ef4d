"""Issue 11, item 3: a lost or damaged outbox is noticed, never silently replaced.

A real state directory is made by `exist-bridge run` (subprocess) against a real mosquitto and the
mock; then its outbox is truncated, deleted or has its pages overwritten. `exist-bridge run` must
refuse with one clear error (and change nothing), `exist-bridge status` must explain, and
`run --accept-fresh-outbox` must start afresh, keeping the old file aside. A page damaged while
the bridge runs gives one error line, not one per flush.
"""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import pytest

from mqtt_bridge.pipeline.buffer.outbox import Commit, Effect, Outbox
from mqtt_bridge.pipeline.output.flusher import Flusher

from ..support.bridge import BRIDGE_CMD
from ..support.outbox_runs import LOST, Run, status, used_state_dir


@pytest.fixture
def used_state(mock_exist, mosquitto, tmp_path):
    """A state directory a real bridge ran on, three messages sent, the bridge stopped."""
    return used_state_dir(mock_exist, mosquitto, tmp_path)


def corrupt_pages(path: Path) -> None:
    """Overwrite every page but the first (the schema) with garbage."""
    data = path.read_bytes()
    page = 4096
    assert len(data) > 2 * page
    path.write_bytes(data[:page] + b"\xa5" * (len(data) - page))


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
    flusher = Flusher(box, Writer(), "UTC", reraise)
    reports = [flusher.flush_once() for _ in range(6)]

    assert all(r.postponed and "state directory" in r.postponed.reason for r in reports)
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert "damaged" in errors[0].getMessage() and str(path) in errors[0].getMessage()
    assert errors[0].exc_info is None  # no traceback
    box.close()
