"""From an MQTT message to the effects to commit.

``MessageProcessor`` (the paho network thread) turns each message into a ``Commit``: the effects
of every matching mapping on (attribute, local date), edge states, bad-input records. It also spots
redeliveries of messages already taken in. ``buffer.writer.CommitWriter`` writes the commits and
only then acks the messages they came from.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from ..buffer.outbox import RECENT_SLOTS, Commit, Effect, Outbox
from .mapping import Evaluation, Mapping, route

# Topics whose matching mappings are remembered (a flood of distinct topics can't grow it more).
ROUTE_CACHE = 4096

log = logging.getLogger("exist_bridge.ingest")



@dataclass(frozen=True)
class IncomingMessage:
    topic: str
    payload: bytes
    qos: int = 0
    mid: int = 0
    dup: bool = False
    retain: bool = False
    received_at: float = 0.0


@dataclass(frozen=True)
class Outcome:
    """What one mapping made of one message (``exist-bridge test``, dry runs, debug logs)."""

    mapping: Mapping
    state_before: object  # the edge/counter/duration state used (None: none yet, or no state)
    evaluation: Evaluation  # with ``value`` and ``condition`` filled
    effects: tuple[Effect, ...]  # what it adds to / sets in the outbox, with local dates


def _amount(effect: Effect) -> str:
    if effect.mode == "increment":
        text = str(effect.value)
        return text if text.startswith("-") else f"+{text}"
    return f"= {effect.value}"


def summary(outcome: Outcome) -> str:
    """One phrase: ``coffees +1 on 2026-11-29``, ``coffees: condition false``,
    ``fridge_opens: edge: state recorded (no previous state)``, ``steps: bad input (...)``."""
    ev, mapping = outcome.evaluation, outcome.mapping
    if outcome.effects:
        return ", ".join(f"{e.attribute} {_amount(e)} on {e.date}" for e in outcome.effects)
    if ev.rejected is not None:
        return f"{mapping.attribute}: bad input ({ev.rejected.kind}: {ev.rejected.detail})"
    why = ev.skipped or "no effect"
    if mapping.spec.edge is not None and why in ("no previous state", "not an edge"):
        return f"{mapping.attribute}: edge: state recorded ({why})"
    return f"{mapping.attribute}: {why}"


# Called with each message and what every matching mapping made of it (nothing: no mapping).
Observer = Callable[["IncomingMessage", list[Outcome]], None]


class OnceLogger:
    """Logs a problem the first time it's seen for a (kind, topic), then only counts it."""

    def __init__(self, logger: logging.Logger, cap: int = 10_000):
        self.logger = logger
        self.seen: set[tuple[str, str]] = set()
        self.cap = cap

    def warn(self, kind: str, topic: str, message: str) -> None:
        key = (kind, topic)
        if key in self.seen:
            return
        if len(self.seen) < self.cap:
            self.seen.add(key)
        self.logger.warning(
            "%s on %s: %s (further '%s' on this topic are only counted; see `exist-bridge status`)",
            kind,
            topic,
            message,
            kind,
        )


class MessageProcessor:
    """Pure bookkeeping on the network thread: no I/O, so it keeps up with the broker."""

    def __init__(self, mappings: list[Mapping], timezone: str, outbox: Outbox):
        self.mappings = mappings
        self.zone = ZoneInfo(timezone)
        self._quarter: float | None = None  # local_date's cache
        self._quarter_date = ""
        self.states: dict[str, object] = outbox.edge_states()
        self.recent: OrderedDict[int, tuple[str, bytes]] = OrderedDict(outbox.recent())
        self.once = OnceLogger(log)
        self.observer: Observer | None = None  # exist-bridge test and run --dry-run

    @property
    def mappings(self) -> list[Mapping]:
        return self._routing[0]

    @mappings.setter
    def mappings(self, mappings: list[Mapping]) -> None:
        # The mappings and their route cache are swapped together, in one assignment (atomic
        # for the network thread, which may be routing a message meanwhile).
        self._routing: tuple[list[Mapping], dict[str, list[Mapping]]] = (mappings, {})

    def _route(self, topic: str) -> list[Mapping]:
        """``route()`` memoised per topic (devices repeat their topics), for at most
        ``ROUTE_CACHE`` topics."""
        mappings, routes = self._routing
        matched = routes.get(topic)
        if matched is None:
            matched = route(mappings, topic)
            if len(routes) >= ROUTE_CACHE:
                routes.clear()
            routes[topic] = matched
        return matched

    def local_date(self, when: float) -> str:
        # Cached per quarter hour of UTC (local midnights and clock changes fall on quarter
        # hours), and only when both ends of that quarter hour have the same local date.
        quarter = when // 900
        if quarter == self._quarter:
            return self._quarter_date
        day = datetime.fromtimestamp(when, self.zone).date().isoformat()
        first = datetime.fromtimestamp(quarter * 900, self.zone).date().isoformat()
        last = datetime.fromtimestamp(quarter * 900 + 899.999, self.zone).date().isoformat()
        if first == day == last:
            self._quarter, self._quarter_date = quarter, day
        return day

    def _remember(self, mid: int, topic: str, digest: bytes) -> None:
        self.recent.pop(mid, None)
        self.recent[mid] = (topic, digest)
        while len(self.recent) > RECENT_SLOTS:
            self.recent.popitem(last=False)

    def process(self, msg: IncomingMessage) -> Commit:
        """The commit for one message (effects, states, dead letters, counters)."""
        digest = hashlib.blake2b(msg.payload, digest_size=16).digest()
        acked = msg.qos > 0 and msg.mid > 0
        if acked and msg.dup and self.recent.get(msg.mid) == (msg.topic, digest):
            # A redelivery of a message already taken in (committed, or queued to be).
            return Commit(counters={"duplicates_ignored": 1})
        if acked:
            self._remember(msg.mid, msg.topic, digest)
        commit = Commit(
            mid=msg.mid if acked else 0, topic=msg.topic, digest=digest, counters={"messages": 1}
        )
        matched = self._route(msg.topic)
        explain = self.observer is not None
        outcomes: list[Outcome] | None = (
            [] if explain or log.isEnabledFor(logging.DEBUG) else None
        )
        if not matched:
            commit.counters["unmatched"] = 1
            self._tell(msg, outcomes)
            return commit
        received_at = msg.received_at or time.time()
        day = self.local_date(received_at)
        for mapping in matched:
            key = f"{mapping.index}:{msg.topic}"
            before = self.states.get(key)
            evaluation = mapping.evaluate(
                msg.topic,
                msg.payload,
                msg.retain,
                before,
                received_at=received_at,
                zone=self.zone,
                explain=explain,
            )
            first_effect = len(commit.effects)
            if mapping.uses_state and evaluation.new_state is not None:
                self.states[key] = evaluation.new_state
                commit.states[key] = evaluation.new_state
            if evaluation.rejected is not None:
                r = evaluation.rejected
                commit.dead.append((r.kind, f"mapping {mapping.index}: {r.detail}", msg.payload))
                commit.counters[f"bad_input.{r.kind}"] = (
                    commit.counters.get(f"bad_input.{r.kind}", 0) + 1
                )
                self.once.warn(r.kind, msg.topic, r.detail)
            elif evaluation.event is not None:
                for ev in evaluation.events:  # several: a duration split at local midnight
                    date = day if ev.at is None else self.local_date(ev.at)
                    commit.effects.append(Effect(ev.attribute, date, ev.mode, ev.value))
                    commit.counters["events"] = commit.counters.get("events", 0) + 1
            else:
                commit.counters["skipped"] = commit.counters.get("skipped", 0) + 1
            if outcomes is not None:
                effects = tuple(commit.effects[first_effect:])
                outcomes.append(Outcome(mapping, before, evaluation, effects))
        self._tell(msg, outcomes)
        return commit

    def _tell(self, msg: IncomingMessage, outcomes: list[Outcome] | None) -> None:
        """The debug line for a message (one per message) and the observer, if any."""
        if outcomes is None:
            return
        if log.isEnabledFor(logging.DEBUG):
            what = "; ".join(summary(o) for o in outcomes) or "no mapping matches this topic"
            log.debug("%s -> %s", msg.topic, what)
        if self.observer is not None:
            self.observer(msg, outcomes)
