"""The state directory: its files' names (here only), and the lock that lets one bridge at a
time use it.

``outbox.sqlite`` (the outbox), ``outbox.marker`` (see ``pipeline.buffer.integrity``),
``health.json`` (the running bridge's heartbeat), ``bridge.lock`` (held by the running bridge;
the operating system releases it when the process ends, kill -9 included, so whether it is held
tells whether a bridge is alive), ``budget.json`` and ``attributes.json`` (the request budget and
the attributes the Exist client learnt, kept by ``exist/``) and ``backfill.json`` (the progress
of ``exist-bridge backfill``) and ``read.json`` (the Exist mirror's refreshes, for ``status``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import IO

OUTBOX_FILE = "outbox.sqlite"
MARKER_FILE = "outbox.marker"  # beside the outbox: "this state directory has an outbox"
HEALTH_FILE = "health.json"  # the running bridge's heartbeat, read by `exist-bridge status --check`
RELOAD_KEY = "reload"  # health.json's record of the last reload (``reloading``, ``reload``)
LOCK_FILE = "bridge.lock"  # one running bridge per state directory
BUDGET_FILE = "budget.json"  # the per-token request budget (exist.budget)
ATTRIBUTES_FILE = "attributes.json"  # attributes acquired and their value types (exist.attributes)
BACKFILL_FILE = "backfill.json"  # what `exist-bridge backfill` sent so far
READ_FILE = "read.json"  # the Exist mirror's last refresh and why reads wait (`read:`)
# Only `exist-bridge run` writes these (not budget.json or attributes.json: `exist-bridge backfill`
# writes them before any run): one of them means a bridge ran on this state directory.
RAN_FILES = (HEALTH_FILE, LOCK_FILE)
ACCOUNTS_DIR = "accounts"  # accounts/<name>/: a named account's budget and attributes files


def account_dir(state_dir: Path, account: str) -> Path:
    """Where ``account``'s own files (``BUDGET_FILE``, ``ATTRIBUTES_FILE``) are: the state
    directory itself for the single account (``''``), ``accounts/<name>/`` for a named one."""
    return state_dir / ACCOUNTS_DIR / account if account else state_dir


LOCK_PROBE_GRACE = 2.0  # seconds a starting bridge waits out a `status` probe of the lock


class StateDirInUse(Exception):
    """Another running bridge holds this state directory (two would count events twice)."""


def lock_state_dir(state_dir: Path) -> IO[str]:
    """Hold ``state_dir/bridge.lock`` exclusively for as long as the returned file is open (the
    operating system releases it when the process ends, kill -9 included)."""
    import fcntl

    state_dir.mkdir(parents=True, exist_ok=True)
    handle = open(state_dir / LOCK_FILE, "a+", encoding="utf-8")  # noqa: SIM115 - held open
    # `exist-bridge status` holds the lock shared for an instant to learn whether a bridge runs
    # (see ``lock_holder``): a probe is not a bridge, so contention is retried for a moment.
    deadline = time.monotonic() + LOCK_PROBE_GRACE
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() < deadline:
                time.sleep(0.05)
                continue
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise StateDirInUse(
            f"{state_dir} is in use by another running bridge ({holder}); give each bridge its "
            "own bridge.state_dir"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}\n")
    handle.flush()
    return handle


def lock_holder(state_dir: Path) -> tuple[bool | None, str]:
    """Whether a process holds ``state_dir/bridge.lock`` (a bridge is running there), and what the
    file says about it (``pid N``). ``(False, "")`` when no process holds it - a bridge that was
    SIGKILLed or stopped; ``(None, why)`` where file locks can't be tested. Takes the lock shared
    for an instant (never creates the file); ``lock_state_dir`` tolerates such a probe."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return None, "no file locks on this platform"
    try:
        handle = open(state_dir / LOCK_FILE, encoding="utf-8")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return False, ""
    except OSError as err:
        return None, f"can't open {state_dir / LOCK_FILE}: {err.strerror}"
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True, handle.read().strip()
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False, ""


def lock_pid(holder: str) -> int | None:
    """The pid in the lock file's ``pid N`` line (``lock_holder``'s text), if it has one."""
    parts = holder.split()
    return int(parts[1]) if len(parts) == 2 and parts[0] == "pid" and parts[1].isdigit() else None
