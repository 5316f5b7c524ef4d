"""Days the backfill wrote: the live bridge adds nothing to them.

``exist-bridge backfill`` sends whole day totals from history. If the live bridge later counted an
event of such a day (reachable through ``event_time``, or a message the broker held), it would
learn the history's total as its base and add the event on top, though the history already holds
that event: counted twice. So the backfill records every (attribute, date) it is about to send in
the outbox's ``backfilled`` table, and the bridge drops (and counts, ``backfilled_day``) effects
on those days. Both happen inside SQLite transactions of the same database: the backfill's claim
(read the bridge's rows, record the rest) and the bridge's commit can't interleave, so a day is
either the bridge's (it has a row: the backfill leaves it out) or the history's, never both.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Protocol, TypeVar

SCHEMA = """
CREATE TABLE IF NOT EXISTS backfilled (
    attribute TEXT NOT NULL,
    date      TEXT NOT NULL,
    at        REAL,
    PRIMARY KEY (attribute, date)
);
"""
COUNTER = "backfilled_day"  # effects dropped because their day came from the backfill
_CHUNK = 400  # (attribute, date) pairs per statement: 2 parameters each, under SQLite's 999


class _Keyed(Protocol):
    @property
    def attribute(self) -> str: ...

    @property
    def date(self) -> str: ...


_Effect = TypeVar("_Effect", bound=_Keyed)


def _found(db: sqlite3.Connection, table: str, keys: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """The ``keys`` (attribute, date) that have a row in ``table``."""
    found: set[tuple[str, str]] = set()
    for i in range(0, len(keys), _CHUNK):
        chunk = keys[i : i + _CHUNK]
        where = " OR ".join("(attribute=? AND date=?)" for _ in chunk)
        args = [v for key in chunk for v in key]
        found.update(db.execute(f"SELECT attribute, date FROM {table} WHERE {where}", args))
    return found


def without_backfilled(
    db: sqlite3.Connection, effects: list[_Effect]
) -> tuple[list[_Effect], list[_Effect]]:
    """``effects`` split into (kept, dropped: on a day the backfill wrote); one read."""
    if not effects:
        return effects, []
    keys = list({(e.attribute, e.date): None for e in effects})
    taken = _found(db, "backfilled", keys)
    if not taken:
        return effects, []
    kept = [e for e in effects if (e.attribute, e.date) not in taken]
    dropped = [e for e in effects if (e.attribute, e.date) in taken]
    return kept, dropped


def claim(
    db: sqlite3.Connection, keys: Iterable[tuple[str, str]], overwrite: bool, now: float
) -> set[tuple[str, str]]:
    """Inside the caller's transaction: the ``keys`` the live bridge has a row for (left to it
    unless ``overwrite``), recording every other one (all with ``overwrite``) as backfilled."""
    keys = list(dict.fromkeys(keys))
    live = _found(db, "totals", keys)
    mine = [k for k in keys if overwrite or k not in live]
    if mine:
        db.executemany(
            "INSERT OR REPLACE INTO backfilled (attribute, date, at) VALUES (?, ?, ?)",
            [(a, d, now) for a, d in mine],
        )
    return set() if overwrite else live
