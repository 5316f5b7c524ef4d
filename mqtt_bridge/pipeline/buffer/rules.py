"""The outbox's rules, once: which ``totals`` rows are pending, refused or due, and its errors.

A leaf (it imports nothing of the bridge): the outbox, its deadlines, ``refused``, ``integrity``,
the tests and the benchmarks all read a row's state with these very conditions, never a copy.

- pending: a change Exist has not confirmed (``version > sent_version``) and has not refused for
  good (a refusal parks that version: ``failed_version = version``, until the row changes);
- refused: Exist refused the row's current version for good (``mark_failed``);
- delivered: Exist confirmed the current version and the bridge knows the day's total (its base,
  or an update row's value): what a re-send after midnight sends again;
- due: a pending row's deadline ``due_at`` (see ``deadlines``); NULL (a database from before
  deadlines, a midnight re-send) and ``CLAIMED`` (a flush died half way) mean due now.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

PENDING = "version > sent_version AND (failed_version IS NULL OR failed_version <> version)"
REFUSED = "failed_version = version"
DELIVERED = "sent_version = version AND base_known + (mode = 'update') > 0"
STATE = f"CASE WHEN {REFUSED} THEN 'refused' WHEN {PENDING} THEN 'pending' ELSE 'sent' END"

CLAIMED = 1e300  # due_at of a row a flush is sending
DUE = f"CASE WHEN due_at IS NULL OR due_at >= {CLAIMED:g} THEN 0 ELSE due_at END"  # 0: now
# The upsert's due_at (every column here is the row's value before the update): a pending row
# keeps its deadline unless the change's is earlier (NULL, due now, stays NULL; CLAIMED yields).
KEEP_EARLIEST_DUE = (
    f"due_at=CASE WHEN NOT ({PENDING}) THEN excluded.due_at WHEN due_at IS NULL THEN NULL "
    "ELSE MIN(due_at, excluded.due_at) END"
)


def of_account(account: str | None) -> tuple[str, tuple[str, ...]]:
    """The condition (`` AND account=?``) keeping ``account``'s rows, and its argument; nothing
    for None (every account's rows)."""
    return ("", ()) if account is None else (" AND account=?", (account,))


def meta_key(key: str, account: str | None) -> str:
    """``key`` of the ``meta`` table for ``account``: ``key@name`` for a named account, ``key``
    itself for the single account (``''``) and for every account (None)."""
    return f"{key}@{account}" if account else key


class OutboxError(Exception):
    """The state directory or database can't be used (unwritable, full, corrupt)."""


def damage_text(err: BaseException) -> str:
    """``err`` in words, saying "damaged" when SQLite found the file corrupt."""
    text = str(err)
    if isinstance(err, sqlite3.DatabaseError) and any(
        word in text for word in ("malformed", "not a database", "corrupt")
    ):
        return f"the file is damaged ({text})"
    return text


def failed(doing: str, path: str | Path, err: BaseException) -> OutboxError:
    """The one-line error for ``doing`` (``read``, ``write``, ``use``) the database at ``path``."""
    return OutboxError(f"cannot {doing} the state database {path}: {damage_text(err)}")
