"""The parts of ``exist-bridge status`` that explain: the broker link (from the running bridge's
heartbeat file) and, per (attribute, date), what was sent, what waits and why."""

from __future__ import annotations

import time
from pathlib import Path

from ..exist.jsonfile import read_json

HEALTH_FILE = "health.json"  # written by service.Bridge.write_health


def _ago(when: float | None, now: float) -> str:
    if not when:
        return "never"
    seconds = max(0.0, now - float(when))
    if seconds < 120:
        return f"{seconds:.0f}s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m ago"
    return f"{seconds / 3600:.1f}h ago"


def broker_link(state_dir: Path) -> dict | None:
    """The broker link as the bridge last recorded it (``host``, ``port``, ``connected``,
    ``since``, ``last_error``, ``last_error_at``, ``failed_attempts``) plus ``bridge_running``
    (false once the bridge has stopped); None when no bridge has recorded one."""
    try:
        health = read_json(state_dir / HEALTH_FILE)
    except (OSError, ValueError):
        return None
    if not isinstance(health, dict) or not isinstance(health.get("broker"), dict):
        return None
    link = dict(health["broker"])
    link["bridge_running"] = not health.get("stopped")
    link["recorded_at"] = health.get("at")
    return link


def broker_line(link: dict | None, now: float | None = None) -> str:
    """One line for the text ``status``."""
    now = time.time() if now is None else now
    if link is None:
        return "unknown (no bridge has recorded its broker link here yet)"
    where = f"{link.get('host')}:{link.get('port')}"
    error = link.get("last_error")
    if not link.get("bridge_running"):
        tail = f"; last error {_ago(link.get('last_error_at'), now)}: {error}" if error else ""
        return f"{where}: the bridge has stopped{tail}"
    if link.get("connected"):
        return f"connected to {where} since {_ago(link.get('since'), now)}"
    attempts = link.get("failed_attempts") or 0
    return (
        f"NOT connected to {where}: {error or 'connecting'}"
        + (f" ({_ago(link.get('last_error_at'), now)}, {attempts} failed attempt(s))"
           if error else "")
    )
