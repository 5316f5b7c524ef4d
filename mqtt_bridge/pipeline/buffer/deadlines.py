"""When the outbox's pending rows must be sent: their deadlines (``totals.due_at``, issue 14).

- A row gets its deadline when it first becomes pending: the earliest ``Effect.due`` among its
  changes since (``Outbox._apply``, in SQL: ``rules.KEEP_EARLIEST_DUE``); a later change can only
  bring it forward. ``Outbox.last_due`` is the earliest deadline a commit proposed (the writer
  wakes the flusher when that is before its planned wake-up).
- A flush marks the rows it sends ``CLAIMED`` (``claim``), so a change arriving meanwhile sets
  its own deadline instead of inheriting the one being served; once done, the rows it could not
  deliver are due at that moment (``unclaim``), so a later change can't push them back.
- A pending row with ``due_at`` NULL (a database from before deadlines, a midnight re-send) is
  due now, as is a ``CLAIMED`` one (a flush that died half way).

Each function works on a connection; the outbox holds the transaction and turns SQLite's errors
into ``OutboxError``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Protocol

from .rules import CLAIMED, DUE, PENDING, of_account


class _Change(Protocol):
    @property
    def account(self) -> str: ...

    @property
    def attribute(self) -> str: ...
    @property
    def date(self) -> str: ...
    @property
    def due(self) -> float: ...


def add_due_at(db: sqlite3.Connection) -> None:
    """Migration: databases from before deadlines get the nullable ``due_at`` (NULL: due now,
    so what such a database holds pending is sent at the first flush)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(totals)")}
    if "due_at" not in columns:
        db.execute("ALTER TABLE totals ADD COLUMN due_at REAL")


def earliest_due(changes: Iterable[_Change]) -> dict[tuple[str, str, str], float]:
    """Each (account, attribute, date)'s earliest ``due`` among ``changes``."""
    due: dict[tuple[str, str, str], float] = {}
    for c in changes:
        key = (c.account, c.attribute, c.date)
        due[key] = min(due.get(key, c.due), c.due)
    return due


def cap(db: sqlite3.Connection, latest: float, account: str | None = None) -> None:
    """No pending row (of ``account``; None: any) waits past ``latest`` (at start: deadlines
    stored under longer delays than the configuration now has)."""
    mine, args = of_account(account)
    db.execute(
        f"UPDATE totals SET due_at=? WHERE due_at > ? AND due_at < ? AND {PENDING}{mine}",
        (latest, latest, CLAIMED, *args),
    )


def claim(db: sqlite3.Connection, account: str | None = None) -> None:
    """Mark every pending row (of ``account``; None: any) as being sent (``CLAIMED``)."""
    mine, args = of_account(account)
    db.execute(f"UPDATE totals SET due_at=? WHERE {PENDING}{mine}", (CLAIMED, *args))


def unclaim(db: sqlite3.Connection, now: float, account: str | None = None) -> None:
    """After a flush: the rows it claimed (of ``account``; None: any) but could not deliver
    are due ``now``."""
    mine, args = of_account(account)
    db.execute(
        f"UPDATE totals SET due_at=? WHERE due_at >= ? AND {PENDING}{mine}", (now, CLAIMED, *args)
    )


def by_day(db: sqlite3.Connection, account: str | None = None) -> dict[str, float]:
    """The earliest deadline of the pending rows (of ``account``; None: any), per date (0 for
    a row due now)."""
    mine, args = of_account(account)
    sql = f"SELECT date, MIN({DUE}) FROM totals WHERE {PENDING}{mine} GROUP BY date"
    return dict(db.execute(sql, args))
