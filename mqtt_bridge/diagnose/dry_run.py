"""``exist-bridge run --dry-run``: subscribe and log what each message would do, writing nothing.

It connects with its own client id (``<client_id>-dry-run-<pid>``) and a clean session, so the
broker keeps queueing the real bridge's messages for the real bridge; it publishes no
availability, status or discovery (those topics are the real bridge's). Messages go through the
bridge's own ``MessageProcessor``; their effects are logged, never written to the outbox or Exist,
and each message is acknowledged at once. States (edge, counter, duration) start from a read-only
snapshot of the state directory and evolve in memory only.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import threading
from collections.abc import Callable

from ..config import BridgeConfig, MqttSettings
from ..exist.version import __version__
from ..pipeline.buffer.outbox import Commit
from ..pipeline.input.mqtt import BrokerLink
from ..pipeline.process.processor import IncomingMessage, MessageProcessor, Outcome, summary
from ..pipeline.process.trial import (
    StateSnapshot,
    account_zones,
    trial_mappings,
    user_timezone,
)
from .commands import CHECKED

log = logging.getLogger("exist_bridge.dry_run")

# A dry run keeps nothing for `exist-bridge status` to show: its bad input is only in this log.
DRY_RUN_HINT = (
    "a dry run keeps no dead letters: `exist-bridge test -c FILE -t TOPIC -m PAYLOAD` shows what "
    "each mapping makes of a message"
)


def dry_run_settings(settings: MqttSettings, pid: int | None = None) -> MqttSettings:
    """The broker settings of a dry run: its own client id, a clean session, no discovery."""
    return dataclasses.replace(
        settings,
        client_id=f"{settings.client_id}-dry-run-{os.getpid() if pid is None else pid}",
        persistent_session=False,
        discovery=False,
    )


class AckAtOnce:
    """Stands in for ``CommitWriter``: nothing is stored, each message is acknowledged at once."""

    def __init__(self) -> None:
        self.link: BrokerLink | None = None
        self.messages = 0

    def submit(self, commit: Commit, ack: tuple[int, int] | None) -> None:
        self.messages += 1
        if ack is not None and self.link is not None:
            self.link.ack_many([ack])


def log_outcomes(msg: IncomingMessage, outcomes: list[Outcome]) -> None:
    """One INFO line per message: what it would do (``dry run: TOPIC -> coffees +1 on DATE``)."""
    what = "; ".join(summary(o) for o in outcomes) or "no mapping matches this topic"
    log.info("dry run: %s%s -> %s", msg.topic, " (retained)" if msg.retain else "", what)


class DryRun:
    """The broker link and the processor of a dry run; ``start()``, then ``stop()``."""

    def __init__(self, config: BridgeConfig):
        self.config = config
        snapshot = StateSnapshot(config.bridge.state_dir)
        self.zone, self.zone_source = user_timezone(config, snapshot)
        self.mappings = trial_mappings(config)
        self.processor = MessageProcessor(
            self.mappings, self.zone, snapshot, zones=account_zones(config)
        )
        self.processor.tracer = log_outcomes
        self.processor.once.hint = DRY_RUN_HINT
        self.writer = AckAtOnce()
        self.link = BrokerLink(
            dry_run_settings(config.mqtt),
            [m.spec.topic for m in self.mappings],
            self.processor,
            self.writer,
            version=__version__,
            announce=False,
        )
        self.writer.link = self.link

    def start(self) -> None:
        problems = len(self.config.check_errors)
        if problems:
            log.warning(
                "dry run: %s: %d problem(s) in the configuration (logged above); "
                "the messages below show what the bridge would try until they are fixed",
                CHECKED,
                problems,
            )
        else:
            log.info("dry run: %s: OK", CHECKED)
        log.info(
            "dry run: nothing is written to Exist or %s; client id %s (clean session), "
            "timezone %s (%s), %d mapping(s)",
            self.config.bridge.state_dir,
            self.link.settings.client_id,
            self.zone,
            self.zone_source,
            len(self.mappings),
        )
        self.link.start()

    def stop(self) -> None:
        self.link.stop()
        log.info("dry run stopped after %d message(s)", self.writer.messages)


def run_dry(
    config: BridgeConfig, install_signals: bool = True, until: Callable[[], bool] | None = None
) -> int:
    """Run a dry run in the foreground until SIGTERM/SIGINT (or ``until()`` is true)."""
    done = threading.Event()
    if install_signals:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: done.set())
    dry = DryRun(config)
    dry.start()
    try:
        while not done.wait(0.2):
            if until is not None and until():
                break
    finally:
        dry.stop()
    return 0
