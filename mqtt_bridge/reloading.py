"""Reloading a running bridge's configuration (``SIGHUP``, ``exist-bridge reload``).

The file is read and validated completely first, with ``exist-bridge check``'s code and messages:
a file with problems is refused (each logged with its key and line) and the running configuration
stays. Then what ``config.changes`` allows is applied between two messages:

- the attributes: new ones are acquired or created, as at start;
- the mappings: swapped in the ``MessageProcessor`` while no message is being processed, so a
  message is evaluated either by the old mappings or by the new ones, and committed and
  acknowledged as always (the writer and the ack path are untouched: nothing lost, nothing
  counted twice). A mapping whose ``state_id`` is unchanged keeps its per-topic state (a counter's
  last reading, an edge's last state); the states of the others are forgotten, in one log line;
- the subscriptions: new topics subscribed, topics no mapping reads any more unsubscribed, on the
  live MQTT session.

Keys that only a restart applies are named in one warning and keep their old values; so do the
Exist accounts (``exist.accounts``): a mapping of an account only the new configuration lists
counts into the outbox under that account, named in one warning per account, and its totals wait
there until a restart starts the account (``config.changes``). Totals pending in the outbox are
never touched. The outcome is kept as ``Bridge.last_reload`` and written
to ``health.json`` (``RELOAD_KEY``), where ``exist-bridge reload`` and ``status`` read it.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from .accounts import Account
from .config.changes import live_config, restart_needed
from .config.model import BridgeConfig, ConfigError
from .observe.state import Tally
from .pipeline.buffer.outbox import Outbox
from .pipeline.buffer.refused import warn_refused_unused
from .pipeline.input.mqtt import BrokerLink
from .pipeline.process.mapping import Mapping
from .pipeline.process.processor import MessageProcessor
from .state_dir import RELOAD_KEY
from .watching import FileWatch

log = logging.getLogger("exist_bridge")

__all__ = [
    "RELOAD_KEY",
    "Reloader",
    "apply_config",
    "mapping_diff",
    "reload_bridge",
    "waiting_accounts",
]


class Bridge(Protocol):
    """What a reload changes in the running bridge (``service.Bridge``)."""

    config: BridgeConfig
    mappings: list[Mapping]
    accounts: dict[str, Account]
    processor: MessageProcessor | None
    link: BrokerLink | None
    outbox: Outbox
    config_lock: threading.Lock
    tally: Tally
    last_reload: dict | None

    def write_health(self) -> None: ...

    def mappings_for(self, config: BridgeConfig) -> list[Mapping]: ...


class Reloader:
    """Reloads ``bridge``'s configuration from ``load`` when asked (the ``SIGHUP`` handler sets
    ``asked``; the bridge's main loop calls ``apply_if_asked``). ``load`` returns the new
    configuration or raises ``ConfigError`` (or any error, whose text is the reason)."""

    def __init__(self, load: Callable[[], BridgeConfig], watch: FileWatch | None = None):
        """``watch``: the configuration's files, when a change of them asks for a reload."""
        self.load = load
        self.asked = threading.Event()
        self.watch = watch

    def ask(self, *_: object) -> None:
        """Ask for a reload (safe in a signal handler: it only sets an event)."""
        self.asked.set()

    def apply_if_asked(self, bridge: Bridge) -> dict[str, Any] | None:
        """Reload if asked since the last time (or a watched file changed); the outcome (also
        in ``bridge.last_reload``)."""
        if self.watch is not None and self.watch.changed():
            log.info("the configuration file changed (watch_config): reloading it")
            self.asked.set()
        if not self.asked.is_set():
            return None
        self.asked.clear()
        try:
            outcome = reload_bridge(bridge, self.load)
        except Exception as err:  # a reload never stops the bridge (whose loop calls this)
            log.exception("the reload failed while being applied; restart the bridge to be sure")
            outcome = {"at": time.time(), "result": "failed", "problems": [str(err)]}
        bridge.last_reload = outcome
        bridge.write_health()
        return outcome


def reload_bridge(bridge: Bridge, load: Callable[[], BridgeConfig]) -> dict[str, Any]:
    """Read the configuration with ``load``, and apply it to ``bridge`` if it is valid; the
    outcome as recorded in ``health.json``."""
    log.info("reloading the configuration %s", bridge.config.source)
    try:
        new = load()
    except ConfigError as err:
        return _refused(str(err).splitlines())
    except Exception as err:  # noqa: BLE001 - a reload never stops the bridge
        return _refused(str(err).splitlines() or [type(err).__name__])
    if new.check_errors:
        return _refused(new.check_errors)
    for warning in new.warnings:
        log.warning("config: %s", warning)
    restart = restart_needed(bridge.config, new)
    if restart:
        log.warning(
            "reload: %s changed: this needs a restart; the bridge keeps the old value(s) until "
            "then",
            ", ".join(restart),
        )
    return {**apply_config(bridge, live_config(bridge.config, new)), "restart_needed": restart}


def _refused(problems: list[str]) -> dict[str, Any]:
    """A refused reload: each problem logged, the running configuration kept."""
    for line in problems:
        log.error("reload: %s", line)
    log.error(
        "reload refused: %d problem(s) in the configuration; the bridge keeps running with the "
        "configuration it had",
        len(problems),
    )
    return {"at": time.time(), "result": "refused", "problems": problems, "restart_needed": []}


def apply_config(bridge: Bridge, config: BridgeConfig) -> dict[str, Any]:
    """Apply ``config`` (from ``config.changes.live_config``) to the running ``bridge``: set up
    the attributes, swap the mappings, change the subscriptions. Returns the outcome."""
    attributes_problem = _set_up_attributes(bridge, config)
    with bridge.config_lock:  # not meanwhile rebuilt from the old one (``refresh_mappings``)
        old = bridge.mappings
        mappings = bridge.mappings_for(config)
        forgotten = bridge.processor.replace_mappings(mappings) if bridge.processor else []
        bridge.config, bridge.mappings = config, mappings
        bridge.tally.forget_messages()  # /metrics: per mapping index, now perhaps another one
        subscribed, unsubscribed = (
            bridge.link.set_topics(config.topics) if bridge.link is not None else ([], [])
        )
    diff = mapping_diff(old, mappings)
    log.info(
        "configuration reloaded: %d mapping(s): %d added, %d removed, %d changed, %d unchanged",
        len(mappings),
        *(len(diff[k]) for k in ("added", "removed", "changed", "unchanged")),
    )
    waiting = waiting_accounts(bridge, mappings)
    for account, indexes in waiting.items():
        whose = f"account {account}" if account else "the single account (exist.token)"
        log.warning(
            "reload: mapping(s) %s write to %s, which starts with the next restart "
            "(exist.accounts changed): their events are counted and wait in the outbox under "
            "%s until then",
            ", ".join(map(str, indexes)),
            whose,
            whose,
        )
    if forgotten:
        log.info(
            "reload: forgot the per-topic state of %d topic(s) (%s): the mapping was removed or "
            "now reads differently (attribute, mode, topic, json_path, value_template or account "
            "changed)",
            len(forgotten),
            ", ".join(sorted({key.rsplit(" ", 1)[-1] for key in forgotten})),
        )
    warn_refused_unused(bridge.outbox, {m.attribute for m in mappings})
    return {
        "at": time.time(),
        "result": "applied",
        "problems": [],
        "mappings": {key: len(value) for key, value in diff.items()},
        "subscribed": subscribed,
        "unsubscribed": unsubscribed,
        "states_forgotten": len(forgotten),
        "attributes_problem": attributes_problem,
        "waiting_accounts": sorted(waiting),
    }


def waiting_accounts(bridge: Bridge, mappings: list[Mapping]) -> dict[str, list[int]]:
    """The accounts ``mappings`` write to that the bridge doesn't run (only the reloaded
    configuration lists them: a restart starts them), each with its mappings' indexes."""
    waiting: dict[str, list[int]] = {}
    for mapping in mappings:
        if mapping.spec.account not in bridge.accounts:
            waiting.setdefault(mapping.spec.account, []).append(mapping.index)
    return waiting


def _set_up_attributes(bridge: Bridge, config: BridgeConfig) -> str | None:
    """Acquire/create ``config``'s new attributes (as at start), with each account's Exist; why
    it failed, if it did (a write to an attribute not yet acquired acquires it then)."""
    problems = []
    for account in bridge.accounts.values():
        set_attributes = getattr(account.exist, "set_attributes", None)
        if set_attributes is not None:
            set_attributes(config)
        try:
            account.exist.bootstrap()
        except Exception as err:  # noqa: BLE001 - Exist down: the mappings still change
            log.warning(
                "reload: %s",
                account.said(
                    f"setting up the attributes with Exist failed ({err}); a write to a new "
                    "attribute acquires it"
                ),
            )
            problems.append(account.said(str(err)))
    return "; ".join(problems) or None


def mapping_diff(old: list[Mapping], new: list[Mapping]) -> dict[str, list[Mapping]]:
    """The mappings of ``new`` against ``old``, by what they read (``state_id``): ``added`` and
    ``removed`` (a mapping that now reads differently is both: its state starts afresh),
    ``changed`` (reads the same, counts differently: condition, amount, edge...; its state is
    kept) and ``unchanged``."""
    before = {m.state_id: m for m in old}
    after = {m.state_id for m in new}
    diff: dict[str, list[Mapping]] = {"added": [], "removed": [], "changed": [], "unchanged": []}
    for mapping in new:
        was = before.get(mapping.state_id)
        if was is None:
            diff["added"].append(mapping)
        elif _same(was, mapping):
            diff["unchanged"].append(mapping)
        else:
            diff["changed"].append(mapping)
    diff["removed"] = [m for m in old if m.state_id not in after]
    return diff


def _same(a: Mapping, b: Mapping) -> bool:
    """Whether two mappings are the same but for where they are in the file."""
    spec_a, spec_b = dataclasses.replace(a.spec, line=None), dataclasses.replace(b.spec, line=None)
    return spec_a == spec_b and a.spec.delay == b.spec.delay
