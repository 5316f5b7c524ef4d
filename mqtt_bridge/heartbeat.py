"""The running bridge's heartbeat: ``state_dir/health.json``, rewritten every
``HEALTH_INTERVAL`` seconds and whenever something it records changes.

``exist-bridge status`` (``--check``), ``/healthz`` of a bridge in another process and the
add-on's watchdog read it: the pid, when it was written (wall-clock time), whether the broker
link is up (and since when, or its last error), whether Exist refuses a token (and, with several
accounts, whose: ``accounts``), the last reload, and whether the bridge stopped cleanly.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from .exist.jsonfile import write_json_atomic
from .exist.version import __version__
from .state_dir import HEALTH_FILE, RELOAD_KEY

log = logging.getLogger("exist_bridge")

HEALTH_INTERVAL = 15.0


def record(
    connected: bool,
    stopped: bool,
    token_refused: str | None,
    last_reload: dict | None,
    link: dict | None,
    refused: dict[str, str | None] | None = None,
) -> dict[str, Any]:
    """The heartbeat's fields (``link``: the broker link's status, when there is one;
    ``refused``: with named accounts, each one's refused token or None)."""
    health: dict[str, Any] = {
        "pid": os.getpid(),
        "at": time.time(),
        "broker_connected": connected,
        "stopped": stopped,
        "version": __version__,
        "token_refused": token_refused,
        RELOAD_KEY: last_reload,
    }
    if link is not None:  # connected since / last error, for `exist-bridge status`
        health["broker"] = link
    if refused:
        health["accounts"] = {name: {"token_refused": why} for name, why in refused.items()}
    return health


def write(state_dir: Path, health: dict[str, Any]) -> None:
    """Write ``health`` to ``state_dir/health.json``; a failed write is logged at debug level."""
    try:
        write_json_atomic(state_dir / HEALTH_FILE, health, mode=0o644)
    except OSError as err:
        log.debug("can't write %s: %s", HEALTH_FILE, err)
