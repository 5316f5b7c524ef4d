"""The parts of ``exist-bridge status`` that explain: the broker link (from the running bridge's
heartbeat file), why each mapping skipped messages and, per (attribute, date), what was sent,
what waits and why."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ..config.model import BridgeConfig
from ..exist.jsonfile import read_json
from ..pipeline.process import skips
from ..state_dir import HEALTH_FILE, READ_FILE


def _ago(when: float | None, now: float) -> str:
    if not when:
        return "never"
    seconds = max(0.0, now - float(when))
    if seconds < 120:
        return f"{seconds:.0f}s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m ago"
    return f"{seconds / 3600:.1f}h ago"


def heartbeat(state_dir: Path) -> dict[str, Any] | None:
    """The heartbeat the bridge on ``state_dir`` last wrote (None: none, or unreadable)."""
    return read_heartbeat(state_dir)[0]


def read_heartbeat(state_dir: Path) -> tuple[dict[str, Any] | None, str | None]:
    """The heartbeat the bridge on ``state_dir`` last wrote (None: none, or unreadable) and why
    the file can't be read (None when it could); read once per ``status`` and handed to what
    shows parts of it."""
    try:
        health = read_json(state_dir / HEALTH_FILE)
    except (OSError, ValueError) as err:
        return None, str(err)
    return (health if isinstance(health, dict) else None), None


def broker_link(health: dict[str, Any] | None, max_age: float = 90.0) -> dict | None:
    """The broker link as the bridge last recorded it in its ``heartbeat`` (``host``, ``port``,
    ``connected``, ``since``, ``last_error``, ``last_error_at``, ``failed_attempts``) plus
    ``bridge_running`` (false once the bridge has stopped, or its heartbeat is older than
    ``max_age`` seconds); None when no bridge has recorded one."""
    if health is None or not isinstance(health.get("broker"), dict):
        return None
    link = dict(health["broker"])
    fresh = time.time() - float(health.get("at") or 0) <= max_age
    link["bridge_running"] = fresh and not health.get("stopped")
    link["recorded_at"] = health.get("at")
    return link


def skipped_by_mapping(counters: dict[str, int], config: BridgeConfig) -> list[dict[str, Any]]:
    """Why each mapping skipped messages (all time): ``mapping``, ``topic``, ``attribute`` (as
    the configuration names them now; counted by the mapping's position) and ``reasons``."""
    mappings = config.mappings
    found = []
    for index, reasons in skips.by_mapping(counters).items():
        spec = mappings[index] if index < len(mappings) else None
        found.append(
            {
                "mapping": index,
                "topic": spec.topic if spec else None,
                "attribute": spec.attribute if spec else None,
                "reasons": reasons,
            }
        )
    return found


def skipped_lines(found: list[dict[str, Any]]) -> list[str]:
    """``skipped_by_mapping`` as the lines of the text ``status``."""
    lines = []
    for m in found:
        where = (
            f"{m['topic']} -> {m['attribute']}"
            if m["topic"] is not None
            else "(no longer in the configuration)"
        )
        lines.append(f"  mappings[{m['mapping']}] {where}: {skips.describe(m['reasons'])}")
    return ["skipped, why:"] + lines if lines else []


def token_refused(health: dict[str, Any] | None) -> str | None:
    """Why Exist refuses the token, as the running bridge last recorded it in its
    ``heartbeat`` (None: it takes it, or nothing was recorded)."""
    refused = health.get("token_refused") if health is not None else None
    return str(refused) if refused else None


def accounts_refused(health: dict[str, Any] | None) -> dict[str, str]:
    """Each named account whose token Exist refuses, with why, as the running bridge last
    recorded it in its ``heartbeat`` (``health.json``'s ``accounts``)."""
    accounts = health.get("accounts") if health is not None else None
    if not isinstance(accounts, dict):
        return {}
    return {
        str(name): str(a["token_refused"])
        for name, a in accounts.items()
        if isinstance(a, dict) and a.get("token_refused")
    }


def account_lines(accounts: dict[str, dict[str, Any]]) -> list[str]:
    """Each named account's lines of the text ``status`` (``account alice: ...``): its pending
    totals and budget, and why its sending waits (a refused token, a postponement, the budget)."""
    lines = []
    for name, a in accounts.items():
        head = f"{f'account {name}:':<16} "
        budget = a["budget"]
        left = budget_left(budget) if "left" in budget else f"budget unknown: {budget['error']}"
        lines.append(f"{head}{a['pending_rows']} pending total(s); {left}")
        if budget.get("key"):
            lines.append(f"{'':<17}{budget['key']}")
        if a["token_refused"]:
            lines.append(f"{head}waiting: {a['token_refused']}")
        if a["postponed"]:
            lines.append(f"{head}sending postponed: {a['postponed']['reason']}")
        if budget.get("waiting_because"):
            lines.append(f"{head}waiting: {budget['waiting_because']}")
    return lines


def budget_left(budget: dict[str, Any]) -> str:
    """A known budget (``status_command.budget_status``) in words: what is left this hour, and
    when the next request may go."""
    return f"{budget['left']} of {budget['allowed']} requests left this hour" + (
        f", next in {budget['wait_seconds']}s" if budget["wait_seconds"] else ""
    )


def broker_line(link: dict | None, now: float | None = None) -> str:
    """One line for the text ``status``."""
    now = time.time() if now is None else now
    if link is None:
        return "unknown (no bridge has recorded its broker link here yet)"
    where = f"{link.get('host')}:{link.get('port')}"
    error = link.get("last_error")
    if not link.get("bridge_running"):
        tail = f"; last error {_ago(link.get('last_error_at'), now)}: {error}" if error else ""
        return f"{where}: the bridge is not running{tail}"
    if link.get("client_id_clash"):
        return (
            f"{where}: CLIENT ID CLASH since {_ago(link.get('clash_since'), now)}: another "
            "client uses the same mqtt.client_id, the broker hands the connection back and "
            "forth; messages are held back until one is left (give each bridge its own "
            "mqtt.client_id)"
        )
    if link.get("connected"):
        return f"connected to {where} since {_ago(link.get('since'), now)}"
    attempts = link.get("failed_attempts") or 0
    return f"NOT connected to {where}: {error or 'connecting'}" + (
        f" ({_ago(link.get('last_error_at'), now)}, {attempts} failed attempt(s))" if error else ""
    )


def mirror(state_dir: Path) -> dict:
    """The Exist mirror (``read:``) as the bridge last recorded it: ``refreshes``,
    ``last_refresh``, ``next_refresh`` (ISO times), ``postponed`` (why reads wait) and ``at``;
    empty when no refresh was tried yet."""
    try:
        recorded = read_json(state_dir / READ_FILE)
    except (OSError, ValueError):
        return {}
    return recorded if isinstance(recorded, dict) else {}


def mirror_line(recorded: dict) -> str:
    """One line for the text ``status``: the last refresh, the next, and why reads wait."""
    if not recorded:
        return "on, no refresh tried yet"
    last = recorded.get("last_refresh")
    line = (
        f"{recorded.get('attributes', 0)} attribute(s), last refresh {last or 'never'}, "
        f"next {recorded.get('next_refresh') or 'unknown'}"
    )
    if recorded.get("postponed"):
        line += f"; WAITING: {recorded['postponed']}"
    return line


def postponed(note: str | None) -> dict | None:
    """The flusher's last postponement (``reason``, ``at``, ``seconds``) from the outbox's meta
    value, or None when sending is not postponed."""
    import json

    if not note:
        return None
    try:
        data = json.loads(note)
    except ValueError:
        return None
    return data if isinstance(data, dict) and data.get("reason") else None


def why(
    row: dict, *, running: bool, budget: dict, postponement: dict | None, now: float | None = None
) -> str:
    """Why a row (from ``Outbox.days``) is where it is, in words."""
    now = time.time() if now is None else now
    if row["state"] == "refused":
        fix = (
            " - no such attribute: check its name (`exist-bridge check`)"
            if (row["code"] == "not_found")
            else ""
        )
        return (
            f"refused by Exist ({row['code']}: {row['error']}){fix}; retried only when it changes"
        )
    if row["state"] == "sent":
        return f"sent {_ago(row['sent_at'], now)}"
    if not running:
        return "waiting: the bridge is not running (sent at its next start)"
    if postponement:
        until = float(postponement.get("at") or 0) + float(postponement.get("seconds") or 0)
        left = f", next try in {until - now:.0f}s" if until > now else ""
        return f"waiting: sending postponed ({postponement['reason']}){left}"
    if budget.get("wait_seconds"):
        return f"waiting: {budget.get('waiting_because') or 'request budget'}"
    if row["mode"] == "increment" and not row["base_known"]:
        return "waiting: the day's value in Exist is learned first (an increment of 0), then sent"
    changed = f" (changed since sent {_ago(row['sent_at'], now)})" if row["sent_at"] else ""
    return f"waiting for the next flush{changed}"


def unlisted(row: dict, heir: str | None = None) -> str:
    """Why a pending row of an account the configuration doesn't list waits; ``heir``: the
    first of ``exist.accounts`` when the bridge is not running (its next start hands it the
    single account's rows, ``accounts.adopt_single_account``)."""
    if heir and not row["account"]:
        return (
            "waiting: kept from before exist.accounts; the bridge's next start hands it to "
            f"account {heir}, the first in exist.accounts, and sends it"
        )
    whose = f"account {row['account']!r}" if row["account"] else "the single account"
    return f"waiting: the configuration no longer lists {whose}; kept, and sent once it does again"


def totals(
    rows: list[dict],
    *,
    running: bool,
    budget: dict,
    postponement: dict | None,
    now: float | None = None,
) -> list[dict]:
    """``rows`` each with ``why`` added (the ``totals`` of ``status --json``)."""
    return [
        {**r, "why": why(r, running=running, budget=budget, postponement=postponement, now=now)}
        for r in rows
    ]


def total_lines(rows: list[dict], limit: int = 30) -> list[str]:
    """The text ``status`` lines for the rows (newest date first)."""
    lines = []
    for r in rows[:limit]:
        total = r["sent_value"] if r["state"] == "sent" else r["total"]
        if r["state"] != "sent" and r["mode"] == "increment" and not r["base_known"]:
            total = f"+{r['total']}"  # Exist's value for the day before the bridge: not known yet
        whose = f"account {r['account']}: " if r.get("account") else ""
        lines.append(f"  {whose}{r['attribute']} {r['date']}: {total}, {r['state']} - {r['why']}")
    if len(rows) > limit:
        lines.append(f"  ... and {len(rows) - limit} more (`status --json` lists them)")
    return lines


def recent_date(days: int = 1, now: float | None = None) -> str:
    """The ISO date ``days`` before today (UTC; a day's margin covers every timezone): sent rows
    from then on are listed."""
    from datetime import datetime, timedelta, timezone

    when = datetime.fromtimestamp(time.time() if now is None else now, timezone.utc)
    return (when - timedelta(days=days + 1)).date().isoformat()
