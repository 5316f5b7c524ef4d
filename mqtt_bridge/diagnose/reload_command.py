"""``exist-bridge reload``: ask the bridge running on a configuration's state directory to reload
its configuration (``SIGHUP``), and say what it did.

The file is checked here first, as ``exist-bridge check`` does: a file with problems is reported
and the bridge is not asked. Otherwise the bridge's pid comes from its lock file
(``state_dir.lock_holder``), and the answer from the reload record it writes to ``health.json``
(``reloading.RELOAD_KEY``): applied (with the keys that need a restart) or refused (with why).
``status`` shows the same record as "last reload".
"""

from __future__ import annotations

import argparse
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..cli_options import add_config, load_or_say, say_problems
from ..state_dir import LOCK_FILE, RELOAD_KEY, lock_holder, lock_pid
from .status_view import heartbeat

DEFAULT_WAIT = 60.0  # seconds: a reload may acquire new attributes from Exist


def add_reload(sub: argparse._SubParsersAction) -> None:
    """The ``reload`` subcommand's parser."""
    p = sub.add_parser(
        "reload",
        help="make the running bridge reload its configuration",
        description="Check the configuration as `check` does, then send SIGHUP to the bridge "
        "running on its bridge.state_dir and wait for its answer. The bridge validates the "
        "file again and either applies it (mappings and attributes; subscriptions changed on "
        "the live MQTT session; each mapping that reads the same keeps its per-topic state; "
        "pending totals are kept) or refuses it and keeps the configuration it had. Keys that "
        "only a restart applies (mqtt connection, exist, http, read, bridge.state_dir...) are "
        "named and keep their old values. Exit 0 when applied, 1 otherwise.",
    )
    add_config(p)
    p.add_argument(
        "--wait",
        type=float,
        default=DEFAULT_WAIT,
        metavar="SECONDS",
        help="how long to wait for the bridge's answer (default: %(default).0f)",
    )
    p.set_defaults(handler=cmd_reload)


def cmd_reload(args: argparse.Namespace, out: Any) -> int:
    """Check the file, signal the bridge, report its answer."""
    keeps = "; the running bridge was not asked to reload and keeps its configuration"
    config = load_or_say(args.config, out, check_files=True, also=keeps)
    if config is None:
        return 1
    if config.check_errors:
        errors = config.check_errors
        say_problems(out, args.config, len(errors), "\n".join(errors), keeps)
        return 1
    state_dir = Path(config.bridge.state_dir)
    running, holder = lock_holder(state_dir)
    pid = lock_pid(holder) if running else None
    if pid is None:
        why = holder if running is None else f"no process holds {state_dir / LOCK_FILE}"
        out.error(
            f"no running bridge found on {state_dir} ({why}); a bridge.state_dir changed in the "
            "file needs a restart"
        )
        return 1
    before = last_reload(state_dir)
    try:
        os.kill(pid, signal.SIGHUP)
    except OSError as err:  # another user's bridge (EPERM), or it has just ended
        out.error(
            f"can't signal the bridge (pid {pid}): {err.strerror}; run this as the bridge's user"
        )
        return 1
    deadline = time.monotonic() + args.wait
    while (record := last_reload(state_dir)) == before:
        if time.monotonic() > deadline:
            out.error(
                f"the bridge (pid {pid}) has not recorded a reload within {args.wait:.0f}s "
                "(still starting up? see its log)"
            )
            return 1
        time.sleep(0.2)
    assert record is not None  # it changed, and a bridge never writes it back to None
    for line in reload_lines(record):
        out.print(line)
    return 0 if record.get("result") == "applied" else 1


def last_reload(state_dir: Path) -> dict[str, Any] | None:
    """The last reload the bridge on ``state_dir`` recorded in this run (None: none)."""
    return reload_record(heartbeat(state_dir))


def reload_record(health: dict[str, Any] | None) -> dict[str, Any] | None:
    """The last reload recorded in a ``heartbeat`` (None: none)."""
    record = health.get(RELOAD_KEY) if health is not None else None
    return record if isinstance(record, dict) else None


def reload_lines(
    record: dict[str, Any] | None, title: str = "reload", now: Callable[[], float] = time.time
) -> list[str]:
    """A reload record as text (none for None): when, applied or refused, what changed or why
    not; the first line starts with ``title``."""
    if record is None:
        return []
    at = float(record.get("at") or 0)
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))
    ago = f"{max(0.0, now() - at):.0f}s ago"
    problems = record.get("problems") or []
    if record.get("result") == "failed":  # an error while applying: see the bridge's log
        return [f"{title} failed at {when} ({ago}): restart the bridge to be sure"] + [
            f"  {p}" for p in problems
        ]
    if record.get("result") != "applied":
        lines = [
            f"{title} refused at {when} ({ago}): {len(problems)} problem(s); the bridge kept "
            "the configuration it had"
        ]
        return lines + [f"  {p}" for p in problems]
    counts = record.get("mappings") or {}
    said = ", ".join(
        f"{counts.get(k, 0)} {k}" for k in ("added", "removed", "changed", "unchanged")
    )
    lines = [f"{title} applied at {when} ({ago}): mappings {said}"]
    if record.get("subscribed"):
        lines.append(f"  subscribed to {', '.join(record['subscribed'])}")
    if record.get("unsubscribed"):
        lines.append(f"  unsubscribed from {', '.join(record['unsubscribed'])}")
    if record.get("states_forgotten"):
        lines.append(f"  forgot the per-topic state of {record['states_forgotten']} topic(s)")
    if record.get("attributes_problem"):
        lines.append(f"  attributes not set up yet: {record['attributes_problem']}")
    if record.get("waiting_accounts"):
        names = (a or "the single account (exist.token)" for a in record["waiting_accounts"])
        lines.append(
            f"  account(s) {', '.join(names)} start with the next restart: "
            "their mappings' totals wait in the outbox until then"
        )
    if record.get("restart_needed"):
        lines.append(
            f"  needs a restart (old value kept until then): {', '.join(record['restart_needed'])}"
        )
    return lines
