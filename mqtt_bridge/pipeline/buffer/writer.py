"""Group commit: the outbox writer thread, and only then the broker's acknowledgement.

``MessageProcessor`` (the paho network thread) hands each message's ``Commit`` to ``CommitWriter``
(its own thread), which writes commits in groups, one SQLite transaction each, and only then acks
the messages they came from: a message the broker sees acknowledged is always on disk, and a
message not on disk is never acknowledged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from ... import backoff
from .outbox import Commit, Outbox, OutboxError

log = logging.getLogger("exist_bridge.ingest")  # the name its log lines always had

AckFn = Callable[[list[tuple[int, int]]], object]  # acks a committed batch: (mid, qos), in order
Item = tuple[Commit, tuple[int, int] | None]  # a message's commit and its ack (None: QoS 0)


class CommitWriter(threading.Thread):
    """Group commit: drain the queue, write one transaction, then ack those messages in order.

    If the database can't be written (disk full, directory made read-only), nothing is acked: the
    broker keeps the messages and its in-flight window stops sending more. The writer retries with
    backoff and logs the cause, and carries on where it stopped once the disk is usable again.
    """

    def __init__(
        self,
        outbox: Outbox,
        ack: AckFn,
        max_batch: int = 1000,
        max_queue: int = 10_000,
        on_commit: Callable[[float | None], object] | None = None,
    ):
        super().__init__(name="exist-bridge-writer", daemon=True)
        self.outbox = outbox
        self.ack = ack
        self.max_batch = max_batch
        self.max_queue = max_queue
        # after each commit: the earliest deadline it set (the flusher's ``notify``)
        self.on_commit = on_commit
        # The hand-over from the network thread: a deque (append and popleft are atomic), and a
        # condition only to sleep on: the writer while it is empty, the network thread while it
        # is full. A ``queue.Queue`` takes its locks and wakes a waiter for every message.
        self._items: deque[Item] = deque()
        self._wake = threading.Condition()
        self._writer_asleep = False
        self._submitter_asleep = False
        self.submitted = 0  # counted by the submitting thread only
        self._halt = threading.Event()
        self.failing: str | None = None  # the current write error, for status
        self.committed = 0  # counted by the writer only
        self._idle = threading.Condition()

    def submit(self, commit: Commit, ack: tuple[int, int] | None) -> None:
        """Queue a commit; blocks (back-pressure on the network thread) while the queue holds
        ``max_queue`` of them. One thread submits (the network thread)."""
        items = self._items
        if len(items) >= self.max_queue:
            with self._wake:
                self._submitter_asleep = True
                while len(items) >= self.max_queue and self.is_alive():
                    self._wake.wait(0.1)
                self._submitter_asleep = False
        items.append((commit, ack))
        self.submitted += 1
        if self._writer_asleep:
            with self._wake:
                self._wake.notify_all()

    def stop(self, timeout: float = 30.0) -> None:
        """Write what is queued, then stop."""
        self._halt.set()
        self.join(timeout)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until everything submitted so far is committed (for tests and shutdown)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self.committed < self.submitted:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def run(self) -> None:
        retry = backoff.state_writes()
        batch: list[Item] = []
        while True:
            if not batch and not self._take(batch):
                if self._halt.is_set():
                    return
                continue
            try:
                self.outbox.commit(c for c, _ in batch)
            except OutboxError as err:
                if self._held(err, len(batch), retry.next()):
                    return
                continue
            if self.failing:
                log.warning("the state database is writable again")
                self.failing = None
            retry.reset()
            self._done(batch)
            batch = []

    def _take(self, batch: list[Item]) -> bool:
        """Fill ``batch`` with what is queued (up to ``max_batch``), waiting a moment for the
        first; False when nothing came."""
        items = self._items
        if not items:
            with self._wake:
                self._writer_asleep = True
                if not items:  # checked again once the submitter can see we sleep
                    self._wake.wait(0.1)
                self._writer_asleep = False
            if not items:
                return False
        for _ in range(min(len(items), self.max_batch)):
            batch.append(items.popleft())
        if self._submitter_asleep:
            with self._wake:
                self._wake.notify_all()
        return True

    def _held(self, err: OutboxError, messages: int, delay: float) -> bool:
        """The batch could not be written: say so (once per cause) and wait ``delay`` before
        trying again; True when a stop came meanwhile (nothing of it was acknowledged)."""
        if self.failing != str(err):
            log.error(
                "%s — holding %d message(s) unacknowledged until it can be written",
                err,
                messages,
            )
        self.failing = str(err)
        if self._halt.wait(delay):
            log.error(
                "stopping with %d message(s) not written; the broker will redeliver "
                "them (they were never acknowledged)",
                messages,
            )
            return True
        return False

    def _done(self, batch: list[Item]) -> None:
        """The batch is on disk: acknowledge its messages, in order, then tell the flusher."""
        self.ack([ack for _, ack in batch if ack is not None])
        if self.on_commit is not None:
            self.on_commit(self.outbox.last_due)
        with self._idle:
            self.committed += len(batch)
            self._idle.notify_all()
