"""Issue 5, scenario 10: the state directory's disk fills up mid-stream.

Two ways to fill it:
- ``tmpfs``: the state directory is a small tmpfs of its own (needs root / CAP_SYS_ADMIN; skipped
  otherwise), filled to the last byte by a filler file: SQLite, the budget file and everything
  else in the state directory really get ENOSPC. Freeing it is deleting the filler.
- ``patched``: runs anywhere; the ingest writer's outbox commit raises SQLite's own
  ``OperationalError("database or disk is full")`` inside its transaction (only the outbox is
  affected).

Expected: a clear error is logged, nothing the broker considers acknowledged is lost (messages
taken in while the disk is full are not acked, so the broker keeps them: also across a restart),
and the bridge carries on by itself once the disk has room again.
"""

from __future__ import annotations

import errno
import logging
import os
import random
import sqlite3
import subprocess
from pathlib import Path

import pytest

from ..support.faults import (
    FaultBridge,
    assert_never_double_counted,
    landed,
    report,
    wait_until,
)

pytestmark = pytest.mark.slow  # mosquitto, subprocesses or seconds of work: see pyproject


class TmpfsDisk:
    """A 4 MiB tmpfs mounted on the state directory."""

    def __init__(self, where: Path):
        self.where = where
        where.mkdir(parents=True)
        if os.geteuid() != 0:
            pytest.skip("mounting a tmpfs needs root")
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(where)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        self.filler = where / "filler"

    def fill(self, bridge) -> None:
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            size = 65536
            while size:  # to the last byte
                try:
                    os.write(fd, b"\0" * size)
                except OSError as err:
                    assert err.errno == errno.ENOSPC
                    size //= 2
        finally:
            os.close(fd)

    def free(self, bridge) -> None:
        self.filler.unlink()

    def close(self) -> None:
        subprocess.run(["umount", "-l", str(self.where)], check=False)


class PatchedDisk:
    def __init__(self, where: Path):
        self.patched = None

    def fill(self, bridge) -> None:
        box = bridge.writer.outbox

        def commit(batch) -> None:
            with box.transaction():
                raise sqlite3.OperationalError("database or disk is full")

        box.commit = commit
        self.patched = box

    def free(self, bridge) -> None:
        if self.patched is not None:
            del self.patched.commit  # the class's method again
            self.patched = None

    def close(self) -> None:
        pass


DISKS = {"tmpfs": TmpfsDisk, "patched": PatchedDisk}


@pytest.fixture(params=sorted(DISKS))
def disk(request, tmp_path):
    d = DISKS[request.param](tmp_path / "state")
    yield d
    d.close()


def test_disk_full_while_messages_arrive(disk, mock_exist, mosquitto, tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    rng = random.Random(5_0010)
    state = mock_exist.state
    fb = FaultBridge(mock_exist, mosquitto, tmp_path / "state", interval=1)
    try:
        fb.events(rng, 10)
        fb.settle()
        fb.wait_delivered()
        committed = fb.counters()["messages"]

        # --- full while messages keep coming: nothing committed, nothing acked, error logged
        disk.fill(fb.bridge)
        fb.events(rng, 30)
        wait_until(lambda: fb.bridge.writer.failing is not None, timeout=30)
        assert "database or disk is full" in fb.bridge.writer.failing
        assert fb.counters()["messages"] == committed
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert any("database or disk is full" in m and "unacknowledged" in m for m in errors), (
            errors
        )

        # --- room again: it carries on by itself
        disk.free(fb.bridge)
        fb.settle(timeout=60)
        fb.wait_delivered(timeout=60)
        assert fb.bridge.writer.failing is None
        assert any("writable again" in r.getMessage() for r in caplog.records)

        # --- full again, and the bridge is stopped while it is: the broker still has the
        # messages (never acked), and the next start takes them in
        disk.fill(fb.bridge)
        fb.events(rng, 20)
        wait_until(lambda: fb.bridge.writer.failing is not None, timeout=30)
        fb.bridge.stop()
        disk.free(fb.bridge)
        fb.restart()
        fb.settle(timeout=60)
        fb.wait_delivered(timeout=60)

        assert landed(state) == dict(fb.truth)
        assert_never_double_counted(state, fb.truth)
        report(
            f"10a disk full ({'tmpfs' if isinstance(disk, TmpfsDisk) else 'patched commit'})",
            "state disk full twice while messages arrive (once across a restart)",
            fb.published,
            state,
            fb.truth,
        )
    finally:
        fb.close()


def test_disk_full_while_totals_are_being_sent(mock_exist, mosquitto, tmp_path, caplog):
    """The flush side: totals are pending (Exist answers 503 meanwhile) when the disk fills, so
    the flusher's own writes (the budget file before each request, ``mark_sent`` after) fail.
    Exist then comes back and the disk gets room: everything must still arrive."""
    disk = TmpfsDisk(tmp_path / "state")
    rng = random.Random(5_0011)
    state = mock_exist.state
    fb = FaultBridge(mock_exist, mosquitto, tmp_path / "state", interval=1)
    try:
        fb.events(rng, 10)
        fb.settle()
        fb.wait_delivered()
        state.add_fault("/api/2/*", status=503, count=None)
        fb.events(rng, 10)
        fb.settle()
        disk.fill(fb.bridge)
        state.clear_faults()
        for _ in range(3):  # flushes meet the full disk (the loop's own may run meanwhile too)
            fb.bridge.flusher.flush_once()
        disk.free(fb.bridge)
        assert all(t.is_alive() for t in fb.bridge._threads), "the flush loop died"
        fb.wait_delivered(timeout=30)
        assert landed(state) == dict(fb.truth)
    finally:
        fb.close()
        disk.close()
