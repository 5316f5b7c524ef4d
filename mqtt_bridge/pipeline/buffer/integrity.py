"""Is the outbox the one the bridge left? A lost or damaged outbox stops the start.

A marker file beside the outbox (``MARKER_FILE``) records that the state directory has one;
``inspect_outbox`` (run before every start and by ``status``) finds a missing, truncated or
damaged outbox, and the bridge then refuses to start until the user accepts a fresh one.

The marker also records the bridge's run number and whether that run is ``running`` or
``stopped`` (cleanly); the outbox's ``meta`` table holds the same ``run`` (committed at start) and
``stopped`` (committed at a clean stop, which then checkpoints the write-ahead log into the file
and truncates it). A bridge killed with -9 leaves its latest commits in ``outbox.sqlite-wal``, so:
- marker ``running N``, and the outbox (read with its log) has ``run`` < N: the log was deleted, or
  an older copy of the file restored;
- marker ``running N``, no (or an empty) log, and the outbox has no clean stop of run N: the log,
  which a run that did not stop cleanly always leaves, was deleted;
- marker ``stopped N`` and the outbox's ``stopped`` < N: an older copy (one taken while the bridge
  ran, without its log) was restored.
A marker without the record (written by an older version) checks nothing; stale numbers in the
marker (it could not be written) never alarm. Readers (``status``) open the outbox read-only, so
they never checkpoint and delete a killed bridge's log. A missing outbox *and* marker in a
directory where a bridge ran (``RAN_FILES``: only ``exist-bridge run`` writes them) is lost too.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import time
from pathlib import Path

from ...state_dir import MARKER_FILE, RAN_FILES, StateDirInUse, lock_state_dir
from .outbox import Outbox
from .rules import OutboxError, damage_text

log = logging.getLogger(__name__)
_RECORD = re.compile(r"^state: (running|stopped) \(run (\d+)\)$", re.MULTILINE)


class OutboxLost(OutboxError):
    """The outbox was deleted, truncated or damaged since the last run (see ``inspect_outbox``)."""


LOST_WHAT = (
    "the totals not yet sent to Exist and the memory of messages already taken in (used to "
    "recognise the broker's redeliveries) are gone"
)
ACCEPT_FLAG = "--accept-fresh-outbox"
RESTORED = (  # a deliberate restore of a complete copy: the marker describes the later run
    f" (if you restored a complete copy on purpose, delete {MARKER_FILE} and start again)"
)


def inspect_outbox(path: str | Path) -> str | None:
    """Why the outbox at ``path`` can't be trusted, or None when it is fine or brand new.

    Lost: the file is missing while ``MARKER_FILE`` (or, with the marker gone too, a file in
    ``RAN_FILES``) says there was one, or it is empty (0 bytes: a real outbox always has its header
    page), or it has no schema row, or its write-ahead log is gone (see the module's docstring).
    Damaged: SQLite can't open it or its ``quick_check`` finds broken pages. Reads only: the file
    is opened read-only, which never checkpoints or deletes the log."""
    path = Path(path)
    marker = path.parent / MARKER_FILE
    if not path.exists():
        if marker.exists():
            return f"{path} is missing, but {marker.name} says this state directory had one"
        ran = [name for name in RAN_FILES if (path.parent / name).exists()]
        if ran:
            return (
                f"{path} and {marker.name} are missing, but {' and '.join(ran)} show a bridge "
                "ran on this state directory"
            )
        return None
    wal = Path(f"{path}-wal")
    try:
        if path.stat().st_size == 0:
            return f"{path} is empty (0 bytes): it was truncated"
        logged = wal.exists() and wal.stat().st_size > 0  # before opening: that may create it
        record = read_record(path)
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        try:
            problems = [r[0] for r in db.execute("PRAGMA quick_check(5)")]
            if problems != ["ok"]:
                found = "; ".join(" ".join(str(p).split()) for p in problems)
                return f"{path} is damaged: {found[:300]}"
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
            meta = dict(db.execute("SELECT key, value FROM meta")) if "meta" in tables else {}
        finally:
            db.close()
    except sqlite3.Error as err:
        return f"{path}: {damage_text(err)}"
    except OSError as err:
        return f"cannot read {path}: {err}"
    if "schema" not in meta:
        if marker.exists():
            return f"{path} is not the bridge's outbox any more (its tables are gone)"
        return None
    return _log_problem(path, wal, logged, record, meta) if record else None


def _log_problem(
    path: Path, wal: Path, logged: bool, record: tuple[str, int], meta: dict[str, str]
) -> str | None:
    """What the marker's ``record`` and the outbox's ``meta`` (run, stopped) say was lost."""
    state, run = record
    has_run, stopped = _number(meta.get("run")), _number(meta.get("stopped"))
    if state == "running" and has_run < run:
        return (
            f"{path} does not hold the start of the last run (run {run}; the file has run "
            f"{has_run}): its write-ahead log {wal.name} was deleted, or an older copy of the "
            f"file was restored{RESTORED}"
        )
    if state == "running" and not logged and stopped < run:
        return (
            f"{wal.name}, the write-ahead log of {path}, is missing although the bridge did not "
            "stop cleanly (killed or crashed): the latest changes it held are gone"
        )
    if state == "stopped" and stopped < run:
        return (
            f"{path} is older than the bridge's last clean stop (run {run}; the file has "
            f"{stopped or 'none'}): a copy taken while the bridge ran, without its {wal.name}, "
            f"or an older copy was restored{RESTORED}"
        )
    return None


def _number(text: str | None) -> int:
    try:
        return int(text or 0)
    except ValueError:
        return 0


def read_record(path: str | Path) -> tuple[str, int] | None:
    """The marker's ``(running|stopped, run number)`` beside the outbox at ``path``, or None (no
    marker, or one written by a version that kept no record)."""
    try:
        text = (Path(path).parent / MARKER_FILE).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    found = _RECORD.search(text)
    return (found.group(1), int(found.group(2))) if found else None


def lost_message(problem: str) -> str:
    """The one-line error for a lost or damaged outbox: what, what is gone, how to go on."""
    return (
        f"the outbox was lost or damaged: {problem}. With it, {LOST_WHAT}. Nothing was "
        f"changed. To start deliberately with a fresh outbox (pending totals are not sent; "
        f"messages the broker redelivers may count twice), run `exist-bridge run "
        f"{ACCEPT_FLAG}` once: the old file is kept beside it as outbox.sqlite.lost-*"
    )


def start_afresh(path: Path, problem: str) -> None:
    """``--accept-fresh-outbox``: keep the lost or damaged outbox beside the fresh one, saying what
    that costs; ``OutboxLost`` when it can't be moved."""
    try:
        kept = set_aside(path)
    except OSError as err:
        raise OutboxLost(f"cannot set the lost outbox {path} aside: {err}") from err
    log.warning(
        "starting with a fresh outbox as asked (--accept-fresh-outbox): %s; totals not "
        "yet sent are lost and redelivered messages may count twice%s",
        problem,
        f"; the old file is kept as {kept}" if kept else "",
    )


def set_aside(path: str | Path) -> Path | None:
    """Rename the outbox (and its -wal/-shm files) to ``<name>.lost-<UTC time>``; the new name
    of the main file, or None when there was none. An empty -wal (a read-only ``status`` leaves
    one) and its -shm hold nothing and are removed instead."""
    path = Path(path)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    moved = None
    wal = Path(f"{path}-wal")
    if wal.exists() and wal.stat().st_size == 0:
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    for suffix in ("", "-wal", "-shm"):
        old = Path(str(path) + suffix)
        if old.exists():
            new = old.with_name(f"{path.name}.lost-{stamp}{suffix}")
            os.replace(old, new)
            if not suffix:
                moved = new
    return moved


def _marker_text(path: Path) -> str:
    return (
        f"{path.name}: the bridge's outbox is kept here. If it goes missing or is "
        "truncated, exist-bridge refuses to start rather than silently begin afresh.\n"
    )


def write_marker(path: str | Path, record: tuple[str, int] | None = None) -> None:
    """Record beside the outbox that this state directory has one (see ``inspect_outbox``);
    with ``record`` (``("running"|"stopped", run)``) also the run's state, replacing the file
    atomically (and durably). Without it an existing marker is left as it is."""
    path = Path(path)
    marker = path.parent / MARKER_FILE
    if record is None:
        if not marker.exists():
            marker.write_text(_marker_text(path), encoding="utf-8")
        return
    text = _marker_text(path) + f"state: {record[0]} (run {record[1]})\n"
    tmp = marker.with_name(marker.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, marker)


def begin_run(outbox: Outbox) -> int:
    """Number this run (one above both the outbox's and the marker's), commit it to the outbox,
    then mark it ``running`` (a marker that can't be written is logged by the caller)."""
    record = read_record(outbox.path)
    run = max(_number(outbox.get_meta("run")), record[1] if record else 0) + 1
    outbox.set_meta("run", str(run))
    write_marker(outbox.path, ("running", run))
    return run


def end_run(outbox: Outbox, run: int) -> bool:
    """A clean stop of ``run``: commit it, checkpoint the log into the file and truncate it, then
    mark it ``stopped``. False (the marker keeps ``running``) when the checkpoint was incomplete
    (another connection was reading): the log then still holds what it must."""
    outbox.set_meta("stopped", str(run))
    busy, _, _ = outbox.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    if busy:
        return False
    write_marker(outbox.path, ("stopped", run))
    return True


def close_outside_bridge(outbox: Outbox) -> None:
    """Close an outbox a command other than ``run`` opened read-write (the backfill). With no
    bridge running, that close checkpoints and deletes the log a killed bridge left: harmless
    (it is then in the file) but, unrecorded, it would look like a deleted log. So, holding the
    state directory's lock (no bridge can start meanwhile), a killed run whose start the outbox
    holds is first recorded as complete (``end_run``); a running bridge keeps its own log."""
    try:
        lock = lock_state_dir(outbox.path.parent)
    except (StateDirInUse, OSError):
        outbox.close()
        return
    try:
        record = read_record(outbox.path)
        if record and record[0] == "running" and _number(outbox.get_meta("run")) >= record[1]:
            try:
                end_run(outbox, record[1])
            except (OSError, OutboxError, sqlite3.Error) as err:
                log.warning("can't record that %s holds the last run (%s)", outbox.path, err)
        outbox.close()
    finally:
        lock.close()
