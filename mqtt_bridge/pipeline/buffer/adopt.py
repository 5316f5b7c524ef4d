"""One account's totals given to another (``Outbox.adopt_rows``: the first of ``exist.accounts``
adopting the single account's), where both have a total of the same day."""

from __future__ import annotations

import sqlite3

from .rules import PENDING


def merge_unsent(db: sqlite3.Connection, old: str, new: str) -> int:
    """Inside the caller's transaction: add ``old``'s pending totals that never reached Exist
    (``sent_version`` 0) to ``new``'s rows of the same (attribute, date) and mode, and delete
    them: an increment's count adds up (rounded as the outbox's sums are), an update's later
    value wins. ``new``'s row is pending again, due now. How many were added."""
    rows = db.execute(
        "SELECT o.attribute, o.date, o.mode, o.delta, o.value, o.events, o.updated_at, "
        "n.updated_at FROM totals o JOIN totals n ON n.account=? "
        "AND n.attribute=o.attribute AND n.date=o.date AND n.mode=o.mode "
        "WHERE o.account=? AND o.sent_version=0 AND o.rowid IN "
        f"(SELECT rowid FROM totals WHERE account=? AND {PENDING})",
        (new, old, old),
    ).fetchall()
    for attribute, date, mode, delta, value, events, updated, theirs in rows:
        later = mode == "update" and (updated or 0) >= (theirs or 0)
        db.execute(
            "UPDATE totals SET delta=ROUND(delta + ?, 9), "
            "value=CASE WHEN ? THEN ? ELSE value END, events=events + ?, version=version + 1, "
            "updated_at=MAX(COALESCE(updated_at, 0), ?), due_at=NULL "
            "WHERE account=? AND attribute=? AND date=?",
            (delta, later, value, events, updated or 0, new, attribute, date),
        )
        db.execute(
            "DELETE FROM totals WHERE account=? AND attribute=? AND date=?", (old, attribute, date)
        )
    return len(rows)
