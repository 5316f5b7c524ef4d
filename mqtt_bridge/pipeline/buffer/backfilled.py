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

from .sql import MAX_VARIABLES

TABLE = """
CREATE TABLE IF NOT EXISTS {name} (
    account   TEXT NOT NULL DEFAULT '',
    attribute TEXT NOT NULL,
    date      TEXT NOT NULL,
    at        REAL,
    PRIMARY KEY (account, attribute, date)
);
"""
SCHEMA = TABLE.format(name="backfilled")
COUNTER = "backfilled_day"  # effects dropped because their day came from the backfill
# (account, attribute, date) keys per statement: 3 parameters each, under SQLite's lowest limit
_CHUNK = MAX_VARIABLES // 3


class _Keyed(Protocol):
    @property
    def account(self) -> str: ...

    @property
    def attribute(self) -> str: ...

    @property
    def date(self) -> str: ...


_Effect = TypeVar("_Effect", bound=_Keyed)


def add_accounts(db: sqlite3.Connection) -> None:
    """Migration (schema 3, inside the caller's transaction): the backfilled days get the
    account column; those recorded before are the single account's (``''``)."""
    if "account" in {row[1] for row in db.execute("PRAGMA table_info(backfilled)")}:
        return
    db.execute(TABLE.format(name="backfilled_v3"))
    db.execute(
        "INSERT INTO backfilled_v3 (account, attribute, date, at) "
        "SELECT '', attribute, date, at FROM backfilled"
    )
    db.execute("DROP TABLE backfilled")
    db.execute("ALTER TABLE backfilled_v3 RENAME TO backfilled")


def _found(
    db: sqlite3.Connection, table: str, keys: list[tuple[str, str, str]]
) -> set[tuple[str, str, str]]:
    """The ``keys`` (account, attribute, date) that have a row in ``table``."""
    found: set[tuple[str, str, str]] = set()
    for i in range(0, len(keys), _CHUNK):
        chunk = keys[i : i + _CHUNK]
        where = " OR ".join("(account=? AND attribute=? AND date=?)" for _ in chunk)
        args = [v for key in chunk for v in key]
        sql = f"SELECT account, attribute, date FROM {table} WHERE {where}"
        found.update(db.execute(sql, args))
    return found


def without_backfilled(
    db: sqlite3.Connection, effects: list[_Effect]
) -> tuple[list[_Effect], list[_Effect]]:
    """``effects`` split into (kept, dropped: on a day the backfill wrote); one read."""
    if not effects:
        return effects, []
    keys = list({(e.account, e.attribute, e.date): None for e in effects})
    taken = _found(db, "backfilled", keys)
    if not taken:
        return effects, []
    kept = [e for e in effects if (e.account, e.attribute, e.date) not in taken]
    dropped = [e for e in effects if (e.account, e.attribute, e.date) in taken]
    return kept, dropped


def claim(
    db: sqlite3.Connection,
    keys: Iterable[tuple[str, str]],
    overwrite: bool,
    now: float,
    account: str = "",
    also: tuple[str, ...] = (),
) -> set[tuple[str, str]]:
    """Inside the caller's transaction: the ``keys`` (attribute, date) of ``account`` the live
    bridge has a row for (left to it unless ``overwrite``), recording every other one (all with
    ``overwrite``) as backfilled. A row of an account in ``also`` counts as the bridge's too (the
    first account's backfill: the single account's rows, which that account adopts at the
    bridge's next start)."""
    keys = list(dict.fromkeys(keys))
    wanted = [(who, a, d) for who in (account, *also) for a, d in keys]
    live = {(a, d) for _, a, d in _found(db, "totals", wanted)}
    mine = [k for k in keys if overwrite or k not in live]
    if mine:
        db.executemany(
            "INSERT OR REPLACE INTO backfilled (account, attribute, date, at) VALUES (?, ?, ?, ?)",
            [(account, a, d, now) for a, d in mine],
        )
    return set() if overwrite else live
