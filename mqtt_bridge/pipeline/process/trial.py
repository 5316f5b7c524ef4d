"""Trying mappings before trusting them: ``exist-bridge test`` and ``run --dry-run``.

Both run messages through the real ``MessageProcessor`` (the same code path as the bridge, with an
tracer that records what each mapping made of the message) and never write: the edge, counter
and duration states come from a read-only snapshot of the state directory (none if the bridge has
not run yet) and stay in memory.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...config.model import BridgeConfig, MappingSpec
from ...exist.domain import TEMPLATES
from ...expressions import NOT_JSON, JsonPath, Payload, compile_template, is_truthy
from ...state_dir import OUTBOX_FILE
from .mapping import Mapping, build_mappings
from .processor import IncomingMessage, MessageProcessor, OnceLogger, Outcome, summary

log = logging.getLogger("exist_bridge.trial")


class StateSnapshot:
    """What ``MessageProcessor`` reads at start (edge states, recent packet ids), taken read-only
    from a state directory's outbox; empty when there is none. Nothing is ever written."""

    def __init__(self, state_dir: Path | None):
        self.states: dict[str, object] = {}
        self.timezone: str | None = None
        path = Path(state_dir) / OUTBOX_FILE if state_dir is not None else None
        if path is None or not path.is_file():
            return
        try:
            db = _read_only(path)
            try:
                self.states = {
                    k: json.loads(v) for k, v in db.execute("SELECT key, state FROM edge_state")
                }
                row = db.execute("SELECT value FROM meta WHERE key='timezone'").fetchone()
                self.timezone = row[0] if row else None
            finally:
                db.close()
        except (sqlite3.Error, ValueError) as err:  # a snapshot only: start from nothing
            log.warning("can't read the states in %s (%s); trying without them", path, err)
            self.states = {}

    def edge_states(self) -> dict[str, object]:
        return dict(self.states)

    def recent(self) -> dict[int, tuple[str, bytes]]:
        return {}

    def rekey_states(
        self, renamed: dict[str, str], dropped: Iterable[str], older_than: float | None = None
    ) -> int:
        """States keyed by an older version: re-keyed in memory only (the file is untouched)."""
        for old, new in renamed.items():
            if old in self.states:
                self.states[new] = self.states.pop(old)
        for key in dropped:
            self.states.pop(key, None)
        return 0


def _read_only(path: Path) -> sqlite3.Connection:
    """The outbox opened for reading without leaving files behind. With no ``-wal`` beside it
    (no bridge has it open; a clean stop checkpoints everything into the file) it is opened
    ``immutable``: SQLite then creates no ``-wal``/``-shm``. Else (a bridge runs) read-only,
    through the files the bridge already has."""
    if not Path(f"{path}-wal").exists():
        return sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


class _Silent(OnceLogger):
    """A ``OnceLogger`` that says nothing."""

    def warn(self, kind: str, topic: str, message: str) -> None:
        pass


def user_timezone(config: BridgeConfig, snapshot: StateSnapshot) -> tuple[str, str]:
    """The timezone local dates are taken in, and where it comes from (never asks Exist)."""
    zone = config.accounts[0].timezone  # the first account's (the single one's: exist.timezone)
    if zone:
        return zone, "exist.timezone" if not config.accounts[
            0
        ].name else "exist.accounts[0].timezone"
    if snapshot.timezone:
        return snapshot.timezone, f"remembered in {config.bridge.state_dir}"
    return "UTC", "assumed: set exist.timezone, or run the bridge once to learn it"


def account_zones(config: BridgeConfig) -> dict[str, str]:
    """The time zones the accounts set (an account without one: the first's, see
    ``user_timezone``)."""
    return {a.name: a.timezone for a in config.accounts if a.timezone}


def trial_mappings(config: BridgeConfig) -> list[Mapping]:
    """The config's mappings, checking values against the template's value type where the
    attribute is an Exist template (the running bridge learns it from Exist)."""
    return build_mappings(config, TEMPLATES.get)


@dataclass
class Trial:
    """One message tried: what every mapping of the config made of it."""

    topic: str
    payload: bytes
    retained: bool
    zone: str
    zone_source: str
    date: str
    mappings: list[Mapping]
    outcomes: dict[int, Outcome] = field(default_factory=dict)  # by mapping index (matched ones)

    @property
    def counts(self) -> bool:
        """Whether the message would change anything in Exist."""
        return any(o.effects for o in self.outcomes.values())


def _show(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _state(state: object) -> str:
    return "none (the first message of this topic)" if state is None else _show(state)


def condition_inputs(spec: MappingSpec, topic: str, payload: bytes) -> list[str]:
    """What a condition saw: ``value`` (the whole payload, never the json_path's result) and
    ``value_json``; and, when the condition is false on ``value`` but true on what json_path
    picks (the usual mistake), the condition to write instead."""
    message = Payload(payload.decode("utf-8", "replace").removeprefix("\ufeff"))
    data = message.json()
    lines = [f"    value = {_show(message.text)} (the whole payload)"]
    if data is NOT_JSON:
        lines.append(f"    value_json: undefined ({message.json_error})")
    else:
        lines.append(f"    value_json = {_show(data)}")
    hint = _json_path_hint(spec, topic, message)
    return lines + ([f"  hint: {hint}"] if hint else [])


def _json_path_hint(spec: MappingSpec, topic: str, message: Payload) -> str | None:
    """The usual mistake: a condition testing ``value`` as if it were the json_path's result."""
    data = message.json()
    if not spec.json_path or not spec.condition or data is NOT_JSON:
        return None
    if not re.search(r"\bvalue\b(?!_json)", spec.condition):
        return None
    rewritten = re.sub(r"\bvalue\b(?!_json)", f"value_json.{spec.json_path}", spec.condition)
    try:
        picked = JsonPath(spec.json_path).get(data)
        now = compile_template(spec.condition).render(message.text, topic, data)
        then = compile_template(rewritten).render(message.text, topic, data)
    except (LookupError, ValueError):
        return None
    if isinstance(now, str) and is_truthy(now) or not isinstance(then, str) or not is_truthy(then):
        return None
    return (
        f"in a condition, value is the whole payload, not what json_path {spec.json_path} picks "
        f"({_show(picked)}); the condition is true on that with {rewritten}"
    )


def describe(trial: Trial) -> list[str]:
    """The report printed by ``exist-bridge test``, one mapping after the other."""
    lines = [
        f"message on {trial.topic}"
        + (" (retained)" if trial.retained else "")
        + f": {trial.payload.decode('utf-8', 'replace')}",
        f"timezone: {trial.zone} ({trial.zone_source}); local date {trial.date}",
    ]
    for mapping in trial.mappings:
        spec = mapping.spec
        head = f"mappings[{mapping.index}] {spec.topic} -> {mapping.attribute} ({mapping.mode})"
        outcome = trial.outcomes.get(mapping.index)
        if outcome is None:
            lines.append(f"{head}: topic does not match")
            continue
        ev = outcome.evaluation
        lines.append(f"{head}: matched")
        if spec.condition:
            verdict = outcome.condition or "not evaluated"
            if verdict == "undefined":
                verdict = "undefined (a key it uses is missing)"
            lines.append(f"  condition: {verdict}")
            if outcome.condition is not None:
                lines += condition_inputs(spec, trial.topic, trial.payload)
        if outcome.value is not None:
            source = (
                f"json_path {spec.json_path}"
                if spec.json_path
                else "value_template"
                if spec.value_template
                else "the payload"
            )
            lines.append(f"  value: {_show(outcome.value)} (from {source})")
        if mapping.uses_state:
            lines.append(f"  state used: {_state(outcome.state_before)}")
            lines.append(f"  state after: {_state(ev.new_state)}")
        if outcome.effects:
            for effect in outcome.effects:
                verb = "add" if effect.mode == "increment" else "set the total to"
                lines.append(
                    f"  effect: {verb} {effect.value} -> {effect.attribute} on {effect.date}"
                    + (f" (account {effect.account})" if effect.account else "")
                )
        elif ev.rejected is not None:
            lines.append(f"  bad input ({ev.rejected.kind}): {ev.rejected.detail}")
        else:
            lines.append(f"  skipped: {summary(outcome).split(': ', 1)[-1]}")
    verdict = "it would count" if trial.counts else "it would not change anything in Exist"
    lines.append(f"result: {verdict} (nothing was written)")
    return lines


def try_message(
    config: BridgeConfig,
    topic: str,
    payload: bytes,
    retained: bool = False,
    now: Callable[[], float] = time.time,
) -> Trial:
    """Run one message through the bridge's ``MessageProcessor``, with the state directory's
    states read-only; nothing is written anywhere, and neither the broker nor Exist is contacted."""
    snapshot = StateSnapshot(Path(config.bridge.state_dir))
    zone, source = user_timezone(config, snapshot)
    mappings = trial_mappings(config)
    processor = MessageProcessor(mappings, zone, snapshot, zones=account_zones(config))
    received = now()
    trial = Trial(topic, payload, retained, zone, source, processor.local_date(received), mappings)

    def observe(_msg: IncomingMessage, outcomes: list[Outcome]) -> None:
        trial.outcomes = {o.mapping.index: o for o in outcomes}

    processor.tracer = observe
    processor.once = _Silent(log)  # the report says it; no "see exist-bridge status" warning
    processor.process(
        IncomingMessage(topic=topic, payload=payload, qos=0, retain=retained, received_at=received)
    )
    return trial
