"""``exist-bridge status``: what a (running or stopped) bridge's state directory says. It reads
local files only: the configuration is loaded without its secrets (an unset ``EXIST_TOKEN`` is no
error), ``--json`` always prints one JSON object (``{"error": ...}`` on failure) with every
documented field, and without a process holding the lock the broker link is "not known"."""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config import ConfigError, load_config
from ..config.model import AccountSettings, BridgeConfig
from ..exist.budget import RequestBudget, token_key
from ..exist.tokens import load_credentials
from ..pipeline.buffer.integrity import close_outside_bridge, inspect_outbox, lost_message
from ..pipeline.buffer.outbox import Outbox, OutboxError
from ..pipeline.buffer.refused import forget_refused, refused_unused, unused_message
from ..pipeline.buffer.rules import meta_key
from ..pipeline.output.flusher import POSTPONED_META
from ..pipeline.process.event_time import summary as event_time_summary
from ..state_dir import (
    BUDGET_FILE,
    HEALTH_FILE,
    LOCK_FILE,
    OUTBOX_FILE,
    account_dir,
    lock_holder,
    lock_pid,
)
from . import status_view
from .reload_command import reload_lines, reload_record

#: the counters ``status --json`` always lists (docs/reference/status.md: "these names are kept")
COUNTERS = ("messages", "events", "skipped", "duplicates_ignored", "unmatched")


def _fail(args: argparse.Namespace, out: Any, message: str, detail: str | None = None) -> int:
    """An error: one line on stderr, and with ``--json`` a JSON object on stdout; exit 1."""
    out.error(message)
    if detail:
        out.stderr.write(detail + "\n")
    if getattr(args, "json", False):
        out.print(json.dumps({"error": message, **({"detail": detail} if detail else {})}))
    return 1


def _load(args: argparse.Namespace, out: Any) -> BridgeConfig | None:
    try:
        # the health check (--check) runs in the bridge's own environment: a secret missing
        # there is a problem; a person's `status` needs none (it reads local files only)
        return load_config(args.config, require_secrets=bool(getattr(args, "check", False)))
    except ConfigError as err:
        _fail(
            args,
            out,
            f"{args.config}: {len(err.problems)} problem(s) in the configuration",
            str(err),
        )
        return None


def budget_status(
    config: BridgeConfig, state_dir: Path, account: AccountSettings | None = None
) -> dict[str, Any]:
    """This hour's request budget of ``account`` (default: the first, or the single one);
    without its token (an unset ``!env``), the budget of the token that sent the last request,
    said so in ``key``."""
    account = config.accounts[0] if account is None else account
    where = (
        f"exist.accounts[{config.accounts.index(account)}].token "
        if account.name
        else "exist.token "
    )
    try:
        budget = RequestBudget(
            account_dir(state_dir, account.name) / BUDGET_FILE, allowed=account.requests_per_hour
        )
        unset = [u for u in config.unset_secrets if u.startswith(where)]
        if unset:
            key = budget.latest_key()
            why = f"the token is not available here: {_flat(unset[0].split(' (', 1)[1][:-1])}"
            note = f"the budget of the token that sent the last request; {why}"
            if key is None:
                return {"error": f"no request recorded, and {why}", "key": note}
        else:
            creds = load_credentials(
                token=account.token.reveal() if account.token else None,
                token_file=account.token_file,
            )
            key, note = token_key(creds.access_token()), None
        b = budget.status(key)
    except Exception as err:  # noqa: BLE001 - status shows what it can
        return {"error": str(err)}
    answer = {
        "used": b.used,
        "allowed": b.allowed,
        "left": b.remaining,
        "wait_seconds": round(b.wait),
        "waiting_because": b.reason,
    }
    if note:
        answer["key"] = note
    return answer


def broker_when(link: dict | None, running: bool | None) -> dict | None:
    """The recorded broker link; with no process holding the lock (``running`` False) the
    link's state is unknown: ``connected`` and ``since`` become null, ``bridge_running`` false."""
    if link is None or running is not False:
        return link
    return {**link, "connected": None, "since": None, "bridge_running": False}


def _health_problem(
    health: dict[str, Any] | None,
    unreadable: str | None,
    state_dir: Path,
    max_age: float,
    running: bool | None,
) -> str | None:
    """Why the bridge on ``state_dir`` is unhealthy, or None when it is healthy: ``health`` is
    its heartbeat (``status_view.read_heartbeat``; ``unreadable``: why it can't be read).
    ``running`` is whether a process holds the state directory's lock (None: unknown, trust
    the heartbeat)."""
    if unreadable is not None and running is not False:
        return f"can't read {state_dir / HEALTH_FILE}: {unreadable}"
    if running is False:
        # The heartbeat of a SIGKILLed bridge still says running and connected; the lock is
        # released by the operating system the moment the process ends.
        if isinstance(health, dict) and health.get("stopped"):
            return "the bridge has stopped"
        lock = state_dir / LOCK_FILE
        return f"no bridge holds the lock {lock}: not running (killed, or never started)"
    if not isinstance(health, dict):
        return "no heartbeat yet: the bridge has not started (or is still starting)"
    if health.get("stopped"):
        return "the bridge has stopped"
    if health.get("token_refused"):
        return f"waiting: {health['token_refused']}"
    age = time.time() - float(health.get("at") or 0)
    if age > max_age:
        return f"the bridge's last heartbeat is {age:.0f}s old (over {max_age:.0f}s): not running"
    if not health.get("broker_connected"):
        return "the bridge is not connected to the MQTT broker"
    return None


def cmd_status(args: argparse.Namespace, out: Any) -> int:
    """Print the status of the bridge on the configuration's state directory."""
    config = _load(args, out)
    if config is None:
        return 1
    state_dir = Path(config.bridge.state_dir)
    running, holder = lock_holder(state_dir)  # before the outbox: status is not a bridge
    problem = inspect_outbox(state_dir / OUTBOX_FILE)
    if problem or not (state_dir / OUTBOX_FILE).exists():
        none = f"no bridge state in {state_dir} yet (has `exist-bridge run` been started?)"
        return _fail(args, out, lost_message(problem) if problem else none)
    used = {m.attribute for m in config.mappings}
    forget = getattr(args, "forget_refused", None)
    if forget and forget in used:
        return _fail(
            args,
            out,
            f"--forget-refused {forget}: a mapping uses {forget}; its "
            "refused totals are retried when they change (fix the mapping instead)",
        )
    try:
        if forget:
            out.print(f"forgot {_forget(state_dir, forget)} refused total(s) of {forget}")
            return 0
        health, unreadable = status_view.read_heartbeat(state_dir)
        status = read_status(config, state_dir, used, running, holder, health)
    except OutboxError as err:
        return _fail(args, out, str(err))
    problem = (
        _health_problem(health, unreadable, state_dir, args.max_age, running)
        if args.check
        else None
    )
    if args.json:
        if args.check:
            status["healthy"] = problem is None
            status["health_problem"] = problem
        out.print(json.dumps(status, indent=2, default=str))
        return 1 if problem else 0
    show_status(status, state_dir, holder, out.print)
    if problem:
        out.error(f"unhealthy: {problem}")
        return 1
    if args.check:
        out.print("health:          ok (running, connected to the broker)")
    return 0


def _forget(state_dir: Path, attribute: str) -> int:
    """``--forget-refused``: delete ``attribute``'s refused totals; how many."""
    box = Outbox(state_dir / OUTBOX_FILE)  # the one write status makes
    try:
        return forget_refused(box, attribute)
    finally:
        close_outside_bridge(box)  # never looks like a killed bridge's deleted log


def read_status(
    config: BridgeConfig,
    state_dir: Path,
    used: set[str],
    running: bool | None,
    holder: str,
    health: dict[str, Any] | None,
) -> dict[str, Any]:
    """Everything ``status --json`` prints but the health check: the outbox's status (read-only:
    never checkpoints a killed run's log), counters, lock, budget, broker link (from ``health``,
    the heartbeat), postponement and the day totals; with ``exist.accounts``, each account's
    under ``accounts``. ``OutboxError`` when the outbox can't be read."""
    named = bool(config.accounts[0].name)
    box = Outbox(state_dir / OUTBOX_FILE, readonly=True)
    try:
        status = box.status()
        status["refused_unused"] = refused_unused(box, used)
        rows = box.days(limit=200, since=status_view.recent_date())
        notes = {a.name: box.get_meta(meta_key(POSTPONED_META, a.name)) for a in config.accounts}
    finally:
        box.close()
    by_account = status.pop("pending_by_account")
    status["counters"] = {**dict.fromkeys(COUNTERS, 0), **status["counters"]}
    status["skipped_by_mapping"] = status_view.skipped_by_mapping(status["counters"], config)
    status["running"] = running
    status["pid"] = lock_pid(holder) if running else None
    status["reload"] = reload_record(health)
    budgets = {a.name: budget_status(config, state_dir, a) for a in config.accounts}
    postponed = {name: status_view.postponed(note) for name, note in notes.items()}
    first = config.accounts[0].name
    status["budget"] = budgets[first]
    status["broker"] = broker_when(status_view.broker_link(health), running)
    status["token_refused"] = status_view.token_refused(health) if running else None
    status["postponed"] = postponed[first]
    status["read"] = status_view.mirror(state_dir) if config.read.enabled else None
    bridge_running = (
        bool(running)
        if running is not None
        else bool(status["broker"] and status["broker"]["bridge_running"])
    )
    heir = first if named and not bridge_running else None  # see status_view.unlisted
    status["totals"] = [
        {
            **r,
            "why": status_view.unlisted(r, heir)
            if r["account"] not in budgets and r["state"] == "pending"
            else status_view.why(
                r,
                running=bridge_running,
                budget=budgets.get(r["account"], {}),
                postponement=postponed.get(r["account"]),
            ),
        }
        for r in rows
    ]
    if named:
        refused = status_view.accounts_refused(health) if running else {}
        status["accounts"] = {
            a.name: {
                "pending_rows": by_account.get(a.name, 0),
                "budget": budgets[a.name],
                "postponed": postponed[a.name],
                "token_refused": refused.get(a.name),
                "mappings": [i for i, m in enumerate(config.mappings) if m.account == a.name],
            }
            for a in config.accounts
        }
    else:  # the single account: the fields (and rows) as before there were accounts
        for row in status["totals"] + status["refused"]:
            row.pop("account", None)
    return status


def show_status(
    status: dict[str, Any], state_dir: Path, holder: str, say: Callable[[str], None]
) -> None:
    """``read_status``'s answer as the lines ``exist-bridge status`` prints."""
    running = status["running"]
    if running:
        say(f"bridge:          running ({holder or 'pid unknown'})")
    elif running is False:
        say(f"bridge:          not running (no process holds {state_dir / LOCK_FILE})")
    else:
        say(f"bridge:          unknown ({holder})")
    accounts = status.get("accounts")
    if status["token_refused"] and not accounts:  # else on the lines of the accounts refused
        say(f"waiting:         {status['token_refused']}")
    last = status["last_sync"]
    say(f"pending totals:  {status['pending_rows']} (of {status['rows']} tracked)")
    say(f"last sync:       {f'{time.time() - last:.0f}s ago' if last else 'never'}")
    say(f"broker:          {status_view.broker_line(status['broker'])}")
    for line in (
        status_view.account_lines(accounts) if accounts else _budget_lines(status["budget"])
    ):
        say(line)
    if status.get("read") is not None:
        say(f"exist mirror:    {status_view.mirror_line(status['read'])}")
    counters = status["counters"]
    say(
        f"messages:        {counters.get('messages', 0)} received, "
        f"{counters.get('events', 0)} counted, {counters.get('skipped', 0)} skipped, "
        f"{counters.get('duplicates_ignored', 0)} redeliveries ignored"
        + (f", {n} on backfilled days not added" if (n := counters.get("backfilled_day")) else "")
    )
    for line in status_view.skipped_lines(status["skipped_by_mapping"]):
        say(line)
    timed = event_time_summary(counters)
    if timed:  # mappings with event_time: how their messages were timed
        say(f"event time:      {timed}")
    for line in _kept_aside_lines(status):
        say(line)
    for line in reload_lines(status.get("reload"), "last reload"):
        say(line)
    if status["totals"]:
        say("totals (pending and refused, and those of the last two days):")
        for line in status_view.total_lines(status["totals"]):
            say(line)


def _budget_lines(budget: dict[str, Any]) -> list[str]:
    """The request budget: what is left this hour, and why it waits."""
    if "left" not in budget:
        return [f"budget:          unknown: {budget['error']}"]
    lines = [f"budget:          {status_view.budget_left(budget)}"]
    if budget.get("key"):  # on its own line: it has parentheses of its own
        lines.append(f"                 {budget['key']}")
    if budget.get("waiting_because"):
        lines.append(f"waiting:         {budget['waiting_because']}")
    return lines


def _kept_aside_lines(status: dict[str, Any]) -> list[str]:
    """Dead letters (the last five), totals Exist refused, refused totals no mapping uses."""
    dead = status["dead_letters"]
    lines = [
        f"dead letters:    {sum(dead.values())}"
        + (" (" + ", ".join(f"{k}: {v}" for k, v in sorted(dead.items())) + ")" if dead else "")
    ]
    lines += [
        f"  {d['kind']} on {d['topic']}: {d['detail']}" for d in status["recent_dead_letters"][:5]
    ]
    lines += [
        f"refused by Exist: {r['attribute']} {r['date']}: {r['code']}: {r['error']}"
        for r in status["refused"]
    ]
    if status["refused_unused"]:
        lines.append(f"unused:          {unused_message(status['refused_unused'])}")
    return lines


def _flat(text: str) -> str:
    """``a (b (c))`` as ``a, b, c``: a reason set inside a sentence without nested parentheses."""
    while (flat := re.sub(r" \(([^()]*)\)", r", \1", text)) != text:
        text = flat
    return text
