"""The outbox's tables, and what brings an older file up to date (``prepare``).

Schema versions: 1, the first; 2, ``edge_state.seen`` (when its topic was last seen); 3,
``totals.account`` and ``backfilled.account`` (several Exist accounts): the totals and backfilled
days written before belong to the single account (``''``), see ``accounts``. A read-only
connection (``exist-bridge status``) to a file not yet migrated sees it through temporary views
(``readable``), so ``status`` works before the first start of a new version.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

from . import backfilled, deadlines
from .rules import OutboxError

_log = logging.getLogger("exist_bridge.outbox")

SCHEMA_VERSION = 3

TOTALS = """
CREATE TABLE IF NOT EXISTS {name} (
    account      TEXT NOT NULL DEFAULT '',   -- the Exist account ('': a single-account bridge)
    attribute    TEXT NOT NULL,
    date         TEXT NOT NULL,
    mode         TEXT NOT NULL,              -- 'increment' or 'update'
    delta        NUMERIC NOT NULL DEFAULT 0, -- increment: sum of this bridge's amounts
    value        TEXT,                       -- update: JSON of the last total
    base         TEXT,                       -- increment: JSON of Exist's value before us
    base_known   INTEGER NOT NULL DEFAULT 0,
    version      INTEGER NOT NULL DEFAULT 0,
    sent_version INTEGER NOT NULL DEFAULT 0,
    sent_value   TEXT,
    events       INTEGER NOT NULL DEFAULT 0,
    updated_at   REAL,
    sent_at      REAL,
    failed_version INTEGER,                  -- the version Exist refused for good, if any
    failed_code  TEXT,
    failed_error TEXT,
    due_at       REAL,                       -- see deadlines
    PRIMARY KEY (account, attribute, date)
);
"""
TOTALS_COLUMNS = (
    "attribute, date, mode, delta, value, base, base_known, version, sent_version, sent_value, "
    "events, updated_at, sent_at, failed_version, failed_code, failed_error, due_at"
)
SCHEMA = (
    TOTALS.format(name="totals")
    + """
CREATE TABLE IF NOT EXISTS recent (
    slot   INTEGER PRIMARY KEY,
    mid    INTEGER NOT NULL,
    topic  TEXT NOT NULL,
    digest BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS edge_state (key TEXT PRIMARY KEY, state TEXT NOT NULL, seen REAL);
CREATE TABLE IF NOT EXISTS dead_letters (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      REAL NOT NULL,
    kind    TEXT NOT NULL,
    topic   TEXT,
    detail  TEXT NOT NULL,
    payload BLOB
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
)


def prepare(db: sqlite3.Connection, path: Path) -> None:
    """Create the tables of a new file, or bring an older one up to ``SCHEMA_VERSION``
    (``OutboxError`` for a file from a newer version)."""
    db.executescript(SCHEMA + backfilled.SCHEMA)
    deadlines.add_due_at(db)
    row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
    if row is not None and int(row[0]) > SCHEMA_VERSION:
        raise OutboxError(f"{path} was written by a newer exist-bridge (schema {row[0]})")
    if not _has_accounts(db):
        _add_accounts(db)
    columns = {r[1] for r in db.execute("PRAGMA table_info(edge_state)")}
    if "seen" not in columns:  # schema 1: states without a last-seen time (now: start-up)
        db.execute("ALTER TABLE edge_state ADD COLUMN seen REAL")
        db.execute("UPDATE edge_state SET seen=?", (time.time(),))
    if row is None or int(row[0]) < SCHEMA_VERSION:
        db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))


def readable(db: sqlite3.Connection) -> None:
    """On a read-only connection to a file from before schema 3: temporary views that read it
    as schema 3 (every row the single account's), so the same queries work."""
    if _has_accounts(db):
        return
    db.execute("CREATE TEMP VIEW totals AS SELECT '' AS account, * FROM main.totals")
    tables = {r[0] for r in db.execute("SELECT name FROM main.sqlite_master WHERE type='table'")}
    if "backfilled" in tables:
        db.execute("CREATE TEMP VIEW backfilled AS SELECT '' AS account, * FROM main.backfilled")


def _has_accounts(db: sqlite3.Connection) -> bool:
    columns = {r[1] for r in db.execute("PRAGMA main.table_info(totals)")}
    return not columns or "account" in columns  # no table yet: a read-only look at nothing


def _add_accounts(db: sqlite3.Connection) -> None:
    """Schema 3: the totals (and the backfilled days) are kept per Exist account; the rows
    written before are the single account's (``''``). In one transaction, with one log line."""
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute(TOTALS.format(name="totals_v3"))
        db.execute(
            f"INSERT INTO totals_v3 (account, {TOTALS_COLUMNS}) "
            f"SELECT '', {TOTALS_COLUMNS} FROM totals"
        )
        moved = db.execute("SELECT COUNT(*) FROM totals_v3").fetchone()[0]
        db.execute("DROP TABLE totals")
        db.execute("ALTER TABLE totals_v3 RENAME TO totals")
        backfilled.add_accounts(db)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    if moved:
        _log.info(
            "outbox: totals are now kept per Exist account (schema 3); the %d written before "
            "are the single account's",
            moved,
        )
