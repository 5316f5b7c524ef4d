"""Issue 11, item 3 (review): a deleted write-ahead log, or an outbox deleted with its marker, is
noticed too - and the ordinary cases never raise the alarm.

Real `exist-bridge run` subprocesses against a real mosquitto and the mock. A bridge killed with
-9 leaves its latest commits in `outbox.sqlite-wal`; deleting that file (or restoring
`outbox.sqlite` without it) loses them, and so does `rm outbox*` in a directory a bridge ran on.
"""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest
import yaml

from ..support.bridge import BRIDGE_CMD
from ..support.mqtt import Publisher
from ..support.outbox_runs import LOST, Run, coffee_config, committed, status, used_state_dir
from ..support.waiting import wait_until


@pytest.fixture
def used_state(mock_exist, mosquitto, tmp_path):
    return used_state_dir(mock_exist, mosquitto, tmp_path)


def slow_config(config: Path) -> Path:
    """The same bridge, sending to Exist only once an hour (so what it took in stays pending)."""
    data = yaml.safe_load(config.read_text())
    data["bridge"]["event_delay"] = data["bridge"]["total_delay"] = 3600
    slow = config.with_name("slow.yaml")
    slow.write_text(yaml.safe_dump(data))
    return slow


def killed_with_pending(config: Path, state: Path, port: int) -> None:
    """Run the bridge, take in three more messages (one pending total), then kill -9 it."""
    run = Run(slow_config(config))
    run.wait_subscribed()
    before = committed(state)
    pub = Publisher(port)
    for _ in range(3):
        pub.publish("button/coffee", "1")
    pub.close()
    wait_until(lambda: committed(state) == before + 3, 30)
    shown = status(config)  # read while the bridge runs
    assert shown.returncode == 0 and "pending totals:  1 (of 1 tracked)" in shown.stdout, shown
    run.kill()
    assert (state / "outbox.sqlite-wal").stat().st_size > 0  # the commits are in the log


def refused(config: Path, what: str) -> None:
    """`run` and `status` both refuse with the lost-outbox line naming ``what``."""
    out = subprocess.run(
        [*BRIDGE_CMD, "run", "-c", str(config)], capture_output=True, text=True, timeout=60
    )
    errors = [line for line in out.stderr.splitlines() if "error:" in line]
    assert out.returncode == 1 and len(errors) == 1, out.stderr
    assert LOST in errors[0] and what in errors[0] and "--accept-fresh-outbox" in errors[0]
    assert "Traceback" not in out.stderr
    shown = status(config)
    assert shown.returncode == 1 and LOST in shown.stderr and what in shown.stderr, shown
    assert "pending totals" not in shown.stdout


def accepted(config: Path, state: Path) -> None:
    """`run --accept-fresh-outbox` starts afresh once; then the bridge starts without it."""
    run = Run(config, "--accept-fresh-outbox")
    run.wait_subscribed()
    assert run.stop() == 0
    assert "starting with a fresh outbox as asked" in run.text()
    again = Run(config)
    again.wait_subscribed()
    assert again.stop() == 0, again.text()
    assert status(config).returncode == 0


def test_a_deleted_write_ahead_log_after_kill_9_stops_the_start(used_state, mosquitto):
    config, state = used_state
    killed_with_pending(config, state, mosquitto.port)
    (state / "outbox.sqlite-wal").unlink()
    (state / "outbox.sqlite-shm").unlink()
    refused(config, "outbox.sqlite-wal")
    accepted(config, state)


def test_a_copy_taken_while_running_restored_without_its_log_stops_the_start(used_state, mosquitto):
    config, state = used_state
    run = Run(slow_config(config))
    run.wait_subscribed()
    pub = Publisher(mosquitto.port)
    pub.publish("button/coffee", "1")
    wait_until(lambda: committed(state) == 4, 30)
    copy = (state / "outbox.sqlite").read_bytes()  # `cp outbox.sqlite backup` while running
    pub.publish("button/coffee", "1")
    pub.close()
    wait_until(lambda: committed(state) == 5, 30)
    assert run.stop() == 0, run.text()  # a clean stop
    (state / "outbox.sqlite").write_bytes(copy)  # the restore
    refused(config, "older than")


def test_outbox_and_marker_deleted_in_a_used_state_dir_stops_the_start(used_state):
    config, state = used_state
    for path in [*state.glob("outbox.sqlite*"), state / "outbox.marker"]:  # `rm outbox*`
        path.unlink()
    refused(config, "health.json")
    accepted(config, state)


# ----------------------------------------------------------------------- no false alarms


def test_kill_9_with_the_log_intact_then_status_then_run_delivers(
    used_state, mosquitto, mock_exist
):
    config, state = used_state
    killed_with_pending(config, state, mosquitto.port)
    for _ in range(2):  # status reads without checkpointing: the log stays for the bridge
        shown = status(config)
        assert shown.returncode == 0 and "pending totals:  1 (of 1 tracked)" in shown.stdout
    assert (state / "outbox.sqlite-wal").stat().st_size > 0
    run = Run(config)
    run.wait_subscribed()
    wait_until(lambda: sum(mock_exist.state.values("coffees").values()) == 6, 30)
    assert run.stop() == 0, run.text()
    assert LOST not in run.text()


def test_clean_stops_and_starts_never_alarm(used_state, mosquitto, mock_exist):
    config, state = used_state
    for n in range(2):
        assert status(config).returncode == 0
        run = Run(config)
        run.wait_subscribed()
        pub = Publisher(mosquitto.port)
        pub.publish("button/coffee", "1")
        pub.close()
        wait_until(lambda n=n: sum(mock_exist.state.values("coffees").values()) == 4 + n, 30)
        assert run.stop() == 0, run.text()
    assert not (state / "outbox.sqlite-wal").exists() or (
        (state / "outbox.sqlite-wal").stat().st_size == 0
    )


def test_first_start_after_upgrading_from_a_version_without_the_record(used_state):
    config, state = used_state
    marker = state / "outbox.marker"
    assert "stopped" in marker.read_text()  # this version records its clean stop
    marker.write_text(  # what the previous version wrote
        "outbox.sqlite: the bridge's outbox is kept here. If it goes missing or is "
        "truncated, exist-bridge refuses to start rather than silently begin afresh.\n"
    )
    db = sqlite3.connect(state / "outbox.sqlite")
    db.execute("DELETE FROM meta WHERE key IN ('run', 'stopped')")
    db.commit()
    db.close()
    assert status(config).returncode == 0
    run = Run(config)
    run.wait_subscribed()
    assert run.stop() == 0, run.text()
    assert "stopped" in marker.read_text()
    assert status(config).returncode == 0


def test_a_brand_new_state_dir_and_a_backfill_only_dir_start(tmp_path, mock_exist, mosquitto):
    state = tmp_path / "state"
    state.mkdir()
    (state / "budget.json").write_text("{}")  # `exist-bridge backfill` ran before the bridge
    config = tmp_path / "bridge.yaml"
    coffee_config(config, mock_exist, mosquitto.port, state, delay=3600)
    run = Run(config)
    run.wait_subscribed()
    assert run.stop() == 0, run.text()
    assert LOST not in run.text()


def test_a_backup_copy_restored_on_purpose_starts_once_the_marker_is_deleted(
    used_state, mosquitto, tmp_path
):
    """The documented advice (docs/reference/state-directory.md): `sqlite3 outbox.sqlite
    ".backup FILE"` (here SQLite's same backup API)
    copies a running bridge's outbox with its log; restored later it is older than the last clean
    stop, so the start stops - until the marker is deleted, as the error says."""
    config, state = used_state
    run = Run(slow_config(config))
    run.wait_subscribed()
    pub = Publisher(mosquitto.port)
    pub.publish("button/coffee", "1")
    wait_until(lambda: committed(state) == 4, 30)
    live = sqlite3.connect(state / "outbox.sqlite")
    copy = sqlite3.connect(tmp_path / "backup.sqlite")
    live.backup(copy)
    live.close()
    copy.close()
    pub.publish("button/coffee", "1")
    pub.close()
    wait_until(lambda: committed(state) == 5, 30)
    assert run.stop() == 0, run.text()
    (state / "outbox.sqlite").write_bytes((tmp_path / "backup.sqlite").read_bytes())
    refused(config, "delete outbox.marker")
    (state / "outbox.marker").unlink()
    again = Run(config)
    again.wait_subscribed()
    assert again.stop() == 0, again.text()
    assert committed(state) == 4  # the copy's messages, nothing more
    assert status(config).returncode == 0


def test_another_writer_closing_after_kill_9_never_looks_like_a_deleted_log(
    used_state, mosquitto, mock_exist
):
    """`exist-bridge backfill` opens the outbox read-write; after a kill -9 its close checkpoints
    and deletes the killed bridge's log (everything is then in the file): no alarm follows."""
    from mqtt_bridge.pipeline.buffer.integrity import close_outside_bridge
    from mqtt_bridge.pipeline.buffer.outbox import Outbox

    config, state = used_state
    killed_with_pending(config, state, mosquitto.port)
    close_outside_bridge(Outbox(state / "outbox.sqlite"))  # what the backfill does at its end
    assert not (state / "outbox.sqlite-wal").exists()  # checkpointed into the file and removed
    run = Run(config)
    run.wait_subscribed()
    wait_until(lambda: sum(mock_exist.state.values("coffees").values()) == 6, 30)
    assert run.stop() == 0, run.text()
    assert LOST not in run.text()
