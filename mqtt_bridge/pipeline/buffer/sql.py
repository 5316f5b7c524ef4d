"""Many rows per SQLite statement (the outbox's group commits)."""

from __future__ import annotations

import sqlite3

MAX_VARIABLES = 999  # SQLite's lowest limit on parameters per statement (before 3.32)


def insert_rows(db: sqlite3.Connection, head: str, rows: list[tuple], tail: str = "") -> None:
    """``head VALUES (?, ...), (?, ...) tail``: many rows per statement, in order."""
    if not rows:
        return
    width = len(rows[0])
    per = max(1, MAX_VARIABLES // width)
    one = "(" + ", ".join("?" * width) + ")"
    for i in range(0, len(rows), per):
        chunk = rows[i : i + per]
        db.execute(
            f"{head} VALUES {', '.join([one] * len(chunk))}{tail}",
            [v for row in chunk for v in row],
        )
