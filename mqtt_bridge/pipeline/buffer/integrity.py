"""Is the outbox the one the bridge left? A lost or damaged outbox stops the start.

A marker file beside the outbox (``MARKER_FILE``) records that the state directory has one;
``inspect_outbox`` (run before every start and by ``status``) finds a missing, truncated or
damaged outbox, and the bridge then refuses to start until the user accepts a fresh one.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from .outbox import OutboxError, damage_text

MARKER_FILE = "outbox.marker"  # beside the outbox: "this state directory has an outbox"


class OutboxLost(OutboxError):
    """The outbox was deleted, truncated or damaged since the last run (see ``inspect_outbox``)."""


LOST_WHAT = (
    "the totals not yet sent to Exist and the memory of messages already taken in (used to "
    "recognise the broker's redeliveries) are gone"
)
ACCEPT_FLAG = "--accept-fresh-outbox"


def inspect_outbox(path: str | Path) -> str | None:
    """Why the outbox at ``path`` can't be trusted, or None when it is fine or brand new.

    Lost: the file is missing while ``MARKER_FILE`` beside it says there was one, or it is
    empty (0 bytes: a real outbox always has its header page), or it has no schema row.
    Damaged: SQLite can't open it or its ``quick_check`` finds broken pages. Reads only."""
    path = Path(path)
    marker = path.parent / MARKER_FILE
    if not path.exists():
        if marker.exists():
            return f"{path} is missing, but {marker.name} says this state directory had one"
        return None
    try:
        if path.stat().st_size == 0:
            return f"{path} is empty (0 bytes): it was truncated"
        db = sqlite3.connect(str(path), timeout=30, isolation_level=None)
        try:
            problems = [r[0] for r in db.execute("PRAGMA quick_check(5)")]
            if problems != ["ok"]:
                found = "; ".join(" ".join(str(p).split()) for p in problems)
                return f"{path} is damaged: {found[:300]}"
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
            schema = (
                "meta" in tables and db.execute("SELECT 1 FROM meta WHERE key='schema'").fetchone()
            )
            if not schema and marker.exists():
                return f"{path} is not the bridge's outbox any more (its tables are gone)"
        finally:
            db.close()
    except sqlite3.Error as err:
        return f"{path}: {damage_text(err)}"
    except OSError as err:
        return f"cannot read {path}: {err}"
    return None


def lost_message(problem: str) -> str:
    """The one-line error for a lost or damaged outbox: what, what is gone, how to go on."""
    return (
        f"the outbox was lost or damaged: {problem}. With it, {LOST_WHAT}. Nothing was "
        f"changed. To start deliberately with a fresh outbox (pending totals are not sent; "
        f"messages the broker redelivers may count twice), run `exist-bridge run "
        f"{ACCEPT_FLAG}` once: the old file is kept beside it as outbox.sqlite.lost-*"
    )


def set_aside(path: str | Path) -> Path | None:
    """Rename the outbox (and its -wal/-shm files) to ``<name>.lost-<UTC time>``; the new name
    of the main file, or None when there was none."""
    path = Path(path)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    moved = None
    for suffix in ("", "-wal", "-shm"):
        old = Path(str(path) + suffix)
        if old.exists():
            new = old.with_name(f"{path.name}.lost-{stamp}{suffix}")
            os.replace(old, new)
            if not suffix:
                moved = new
    return moved


def write_marker(path: str | Path) -> None:
    """Record beside the outbox that this state directory has one (see ``inspect_outbox``)."""
    marker = Path(path).parent / MARKER_FILE
    if not marker.exists():
        marker.write_text(
            f"{Path(path).name}: the bridge's outbox is kept here. If it goes missing or is "
            "truncated, exist-bridge refuses to start rather than silently begin afresh.\n",
            encoding="utf-8",
        )
