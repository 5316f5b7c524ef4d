"""When the outbox's pending rows must be sent: their deadlines (``totals.due_at``, issue 14).

- A row gets its deadline when it first becomes pending: the earliest ``Effect.due`` among its
  changes since (``Outbox._apply``, in SQL: ``UPSERT_DUE``); a later change can only bring it
  forward. ``Outbox.last_due`` is the earliest deadline a commit proposed (the writer wakes the
  flusher when that is before its planned wake-up).
- A flush marks the rows it sends ``CLAIMED`` (``claim``), so a change arriving meanwhile sets
  its own deadline instead of inheriting the one being served; once done, the rows it could not
  deliver are due at that moment (``unclaim``), so a later change can't push them back.
- A pending row with ``due_at`` NULL (a database from before deadlines, a midnight re-send) is
  due now, as is a ``CLAIMED`` one (a flush that died half way).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Any

CLAIMED = 1e300  # due_at of a row a flush is sending
PENDING = "version > sent_version AND (failed_version IS NULL OR failed_version <> version)"
# The upsert's due_at (every column here is the row's value before the update): a pending row
# keeps its deadline unless the change's is earlier (NULL, due now, stays NULL; CLAIMED yields).
INSERT_TOTALS = (
    "INSERT INTO totals (attribute, date, mode, delta, value, version, events, updated_at, due_at)"
)
UPSERT_DUE = (
    f"due_at=CASE WHEN NOT ({PENDING}) THEN excluded.due_at WHEN due_at IS NULL THEN NULL "
    "ELSE MIN(due_at, excluded.due_at) END"
)


def add_due_at(db: sqlite3.Connection) -> None:
    """Migration: databases from before deadlines get the nullable ``due_at`` (NULL: due now,
    so what such a database holds pending is sent at the first flush)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(totals)")}
    if "due_at" not in columns:
        db.execute("ALTER TABLE totals ADD COLUMN due_at REAL")


class DeadlineColumns:
    """The flush side of deadlines, mixed into ``Outbox`` (its ``db`` and ``transaction``)."""

    db: sqlite3.Connection
    last_due: float | None = None  # set by each commit (see the module docstring)

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:  # pragma: no cover
        raise NotImplementedError  # Outbox's

    def earliest_due(self, effects: Iterable[Any]) -> dict[tuple[str, str], float]:
        """Each (attribute, date)'s earliest ``due`` among ``effects``; their minimum becomes
        ``last_due`` (None without effects)."""
        due: dict[tuple[str, str], float] = {}
        for e in effects:
            key = (e.attribute, e.date)
            due[key] = min(due.get(key, e.due), e.due)
        self.last_due = min(due.values(), default=None)
        return due

    def cap_deadlines(self, latest: float) -> None:
        """No pending row waits past ``latest`` (at start: deadlines stored under longer delays
        than the configuration now has)."""
        with self.transaction() as db:
            db.execute(
                f"UPDATE totals SET due_at=? WHERE due_at > ? AND due_at < ? AND {PENDING}",
                (latest, latest, CLAIMED),
            )

    def claim(self) -> None:
        """Mark every pending row as being sent (``CLAIMED``)."""
        with self.transaction() as db:
            db.execute(f"UPDATE totals SET due_at=? WHERE {PENDING}", (CLAIMED,))

    def unclaim(self, now: float) -> None:
        """After a flush: the rows it claimed but could not deliver are due ``now``."""
        with self.transaction() as db:
            db.execute(
                f"UPDATE totals SET due_at=? WHERE due_at >= ? AND {PENDING}", (now, CLAIMED)
            )

    def deadlines(self) -> dict[str, float]:
        """The earliest deadline of the pending rows, per date (0 for a row due now)."""
        try:
            return dict(
                self.db.execute(
                    "SELECT date, MIN(CASE WHEN due_at IS NULL OR due_at >= ? THEN 0 "
                    f"ELSE due_at END) FROM totals WHERE {PENDING} GROUP BY date",
                    (CLAIMED,),
                )
            )
        except sqlite3.Error as err:
            from .outbox import OutboxError, damage_text  # (outbox imports this module)

            path = getattr(self, "path", "")
            raise OutboxError(f"cannot read the state database {path}: {damage_text(err)}") from err


__all__ = ["CLAIMED", "INSERT_TOTALS", "PENDING", "UPSERT_DUE", "DeadlineColumns", "add_due_at"]
