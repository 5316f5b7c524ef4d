"""`run --dry-run` (and `test`) read the state directory's outbox without leaving anything
behind: no outbox.sqlite-wal / -shm after they ran on a stopped bridge's state directory."""

from __future__ import annotations

from mqtt_bridge.pipeline.buffer.outbox import Outbox
from mqtt_bridge.pipeline.process.trial import StateSnapshot


def test_reading_a_stopped_bridges_outbox_leaves_no_wal_or_shm(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    box = Outbox(state / "outbox.sqlite")
    box.set_meta("timezone", "Europe/Berlin")
    box.close()
    before = sorted(p.name for p in state.iterdir())
    assert "outbox.sqlite-wal" not in before  # closed cleanly: the bridge left none
    snapshot = StateSnapshot(state)
    assert snapshot.timezone == "Europe/Berlin"  # it did read the outbox
    assert sorted(p.name for p in state.iterdir()) == before
