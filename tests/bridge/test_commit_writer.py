"""The writer's hand-over from the network thread (issue 28): a deque and a condition instead of a
``queue.Queue``, with the same contract: group commits, acks only after the commit that holds
them and in order, and back-pressure on the network thread once ``max_queue`` commits wait."""

from __future__ import annotations

import sqlite3
import threading

from mqtt_bridge.pipeline.buffer.outbox import Commit, Effect, Outbox
from mqtt_bridge.pipeline.buffer.writer import CommitWriter

from ..support.waiting import wait_until


def committed_messages(path) -> int:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT value FROM counters WHERE name='messages'").fetchone()
        return row[0] if row else 0
    finally:
        db.close()


def message(mid: int) -> Commit:
    return Commit(
        mid=mid,
        topic="t",
        digest=mid.to_bytes(16, "big"),
        effects=[Effect("steps", "2026-12-07", "increment", 1)],
        counters={"messages": 1, "events": 1},
    )


def test_each_ack_follows_the_commit_holding_its_message_in_order(tmp_path):
    path = tmp_path / "outbox.sqlite"
    acked: list[tuple[int, int]] = []
    early: list[tuple[int, int]] = []  # acks of messages not yet committed when acked

    def ack(batch: list[tuple[int, int]]) -> None:
        on_disk = committed_messages(path)
        early.extend(a for i, a in enumerate(batch, len(acked) + 1) if i > on_disk)
        acked.extend(batch)

    box = Outbox(path)
    writer = CommitWriter(box, ack=ack, max_batch=7, max_queue=20)
    writer.start()
    n = 500
    submitter = threading.Thread(
        target=lambda: [writer.submit(message(mid), (mid, 1)) for mid in range(1, n + 1)]
    )
    submitter.start()
    submitter.join(60)
    assert writer.wait_idle(60)
    writer.stop()
    assert acked == [(mid, 1) for mid in range(1, n + 1)]
    assert early == []
    assert box.counters()["messages"] == n and box.totals() == {("steps", "2026-12-07"): n}
    assert writer.committed == writer.submitted == n


class HeldOutbox:
    """An outbox whose commits wait until ``release`` is set (a slow disk)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()
        self.batches: list[list[Commit]] = []
        self.last_due = None

    def commit(self, batch) -> None:
        self.started.set()
        self.release.wait(30)
        self.batches.append(list(batch))


def test_a_full_queue_holds_the_network_thread_until_the_writer_takes_some():
    box = HeldOutbox()
    acked: list[tuple[int, int]] = []
    writer = CommitWriter(box, ack=acked.extend, max_batch=2, max_queue=3)  # type: ignore[arg-type]
    writer.start()
    writer.submit(message(1), (1, 1))
    wait_until(box.started.is_set, message="the writer never took the first message")
    for mid in (2, 3, 4):  # the queue is full now
        writer.submit(message(mid), (mid, 1))
    fifth = threading.Thread(target=writer.submit, args=(message(5), (5, 1)))
    fifth.start()
    fifth.join(0.3)
    assert fifth.is_alive(), "a full queue must hold the submitting (network) thread"
    assert acked == []  # nothing acked while its commit is held
    box.release.set()
    fifth.join(10)
    assert not fifth.is_alive()
    assert writer.wait_idle(10)
    writer.stop()
    assert acked == [(mid, 1) for mid in range(1, 6)]
    assert [[c.mid for c in b] for b in box.batches][0] == [1]
    assert all(len(b) <= 2 for b in box.batches)
