"""The bridge under test: in-process (``Bridge``) or as a subprocess (``exist-bridge run``)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from .mqtt import wait_subscribed

__all__ = ["BRIDGE_CMD", "bridge_process", "delay_acks", "start_bridge", "status_check"]

#: ``exist-bridge`` from this checkout's interpreter (no reliance on the console script's PATH)
BRIDGE_CMD = [sys.executable, "-c", "from mqtt_bridge.cli import main; raise SystemExit(main())"]


def bridge_process(
    config: str | Path,
    *args: str,
    command: str = "run",
    env: dict[str, str] | None = None,
    ack_delay: float = 0.0,
    clock_offset: float = 0.0,
    **popen,
) -> subprocess.Popen:
    """Start ``exist-bridge <command> -c <config> <args>`` as a subprocess; ``env`` adds to
    the current environment, ``popen`` goes to ``subprocess.Popen`` (stdout, stderr, text...).
    ``ack_delay``/``clock_offset``: run it through ``tests.support.bridge_main`` (test seams)."""
    cmd = BRIDGE_CMD
    if ack_delay or clock_offset:
        cmd = [
            sys.executable,
            "-m",
            "tests.support.bridge_main",
            "--ack-delay",
            str(ack_delay),
            "--clock-offset",
            str(clock_offset),
            "--",
        ]
    return subprocess.Popen(
        [*cmd, command, "-c", str(config), *args],
        env={**os.environ, **(env or {})},
        **popen,
    )


def start_bridge(
    config, clock: Callable[[], float] | None = None, bootstrap: bool = True, timeout: float = 30
):
    """A ``Bridge`` started in-process, bootstrapped with Exist (unless ``bootstrap`` is false)
    and subscribed: its SUBACK received."""
    from mqtt_bridge.service import Bridge

    bridge = Bridge(config) if clock is None else Bridge(config, clock=clock)
    bridge.start()
    if bootstrap:
        bridge.exist.bootstrap()
        bridge.refresh_mappings()
    wait_subscribed(bridge.link, timeout=timeout)
    return bridge


def delay_acks(monkeypatch, seconds: float) -> None:
    """In-process bridges: sleep ``seconds`` before each batch of broker acknowledgements (after
    the commit), so the broker's in-flight window stays full and a backlog builds up."""
    from mqtt_bridge.pipeline.input.mqtt import BrokerLink

    ack_many = BrokerLink.ack_many

    def delayed_ack_many(self, acks):
        time.sleep(seconds)
        ack_many(self, acks)

    monkeypatch.setattr(BrokerLink, "ack_many", delayed_ack_many)


def status_check(config: str | Path, *extra: str) -> subprocess.CompletedProcess:
    """``exist-bridge status -c <config> --check <extra>``, run to its end, output captured."""
    return subprocess.run(
        [*BRIDGE_CMD, "status", "-c", str(config), "--check", *extra],
        capture_output=True,
        text=True,
        timeout=60,
    )
