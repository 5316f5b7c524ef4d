"""Totals Exist refused for good, kept aside in the outbox (``failed_version = version``), whose
attribute no mapping uses any more (a fixed typo: ``cofees`` -> ``coffees``). They would stay
refused for ever, so the start and ``status`` say so; ``exist-bridge status --forget-refused
NAME`` deletes them. Counts are never moved to another attribute: which one was meant is the
user's call (``backfill`` can send them)."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable

from .outbox import Outbox
from .rules import REFUSED, OutboxError

log = logging.getLogger("exist_bridge")


def refused_unused(outbox: Outbox, used: Iterable[str]) -> dict[str, int]:
    """Attribute -> how many refused totals it has, for attributes not in ``used``."""
    keep = set(used)
    try:
        rows = outbox.db.execute(
            f"SELECT attribute, COUNT(*) FROM totals WHERE {REFUSED} "
            "GROUP BY attribute ORDER BY attribute"
        ).fetchall()
    except sqlite3.Error as err:
        raise OutboxError(f"can't read the refused totals in {outbox.path}: {err}") from err
    return {name: count for name, count in rows if name not in keep}


def forget_refused(outbox: Outbox, attribute: str) -> int:
    """Delete ``attribute``'s refused totals (only rows whose current version was refused: a
    row with a newer change is kept); returns how many."""
    with outbox.transaction() as db:
        return db.execute(
            f"DELETE FROM totals WHERE attribute = ? AND {REFUSED}", (attribute,)
        ).rowcount


def unused_message(unused: dict[str, int]) -> str:
    """One sentence for the log and ``status``."""
    names = ", ".join(f"{name} ({count})" for name, count in unused.items())
    first = next(iter(unused))
    return (
        f"refused totals are kept for attribute(s) no mapping uses any more: {names}; Exist "
        "refused them and they are never sent again (a fixed typo? the counts are not moved to "
        f"another attribute). Clear them with `exist-bridge status --forget-refused {first}`"
    )


def warn_refused_unused(outbox: Outbox, used: Iterable[str]) -> None:
    """Refused totals of attributes not in ``used`` would stay refused for ever: said once (at
    start, after a reload), with how to clear them."""
    try:
        unused = refused_unused(outbox, used)
    except OutboxError as err:
        log.debug("can't list the refused totals: %s", err)
        return
    if unused:
        log.warning("%s", unused_message(unused))
