"""The bridge under test: in-process (``Bridge``) or as a subprocess (``exist-bridge run``)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from .mqtt import install_suback_tracking, wait_subscribed

__all__ = ["BRIDGE_CMD", "bridge_process", "start_bridge"]

#: ``exist-bridge`` from this checkout's interpreter (no reliance on the console script's PATH)
BRIDGE_CMD = [sys.executable, "-c", "from mqtt_bridge.cli import main; raise SystemExit(main())"]


def bridge_process(
    config: str | Path,
    *args: str,
    command: str = "run",
    env: dict[str, str] | None = None,
    **popen,
) -> subprocess.Popen:
    """Start ``exist-bridge <command> -c <config> <args>`` as a subprocess; ``env`` adds to
    the current environment, ``popen`` goes to ``subprocess.Popen`` (stdout, stderr, text...)."""
    return subprocess.Popen(
        [*BRIDGE_CMD, command, "-c", str(config), *args],
        env={**os.environ, **(env or {})},
        **popen,
    )


def start_bridge(config, clock: Callable[[], float] | None = None, bootstrap: bool = True,
                 timeout: float = 30):
    """A ``Bridge`` started in-process, bootstrapped with Exist (unless ``bootstrap`` is false)
    and subscribed: its SUBACK received."""
    install_suback_tracking()
    from mqtt_bridge.service import Bridge

    bridge = Bridge(config) if clock is None else Bridge(config, clock=clock)
    bridge.start()
    if bootstrap:
        bridge.exist.bootstrap()
        bridge.refresh_mappings()
    wait_subscribed(bridge.link, timeout=timeout)
    return bridge
