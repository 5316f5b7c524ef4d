"""From an MQTT message to the effects to commit.

``MessageProcessor`` (the paho network thread) turns each message into a ``Commit``: the effects
of every matching mapping on (attribute, local date), edge states, bad-input records. It also spots
redeliveries of messages already taken in. ``buffer.writer.CommitWriter`` writes the commits and
only then acks the messages they came from.

Bounded under any flood of topics: per-topic states are kept for at most ``MAX_TOPIC_STATES``
topics (the least recently seen are forgotten, in memory and on disk, and start again from a
baseline if they come back), states of topics not seen for ``STATE_MAX_AGE`` are pruned at start,
and bad input is logged once per (kind, topic) for the last ``ONCE_CAP`` pairs, at most
``LOG_BURST`` lines per ``LOG_WINDOW`` seconds, then one summary line per window.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from collections.abc import Mapping as MappingOf
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from ..buffer.outbox import (
    MAX_TOPIC_STATES,
    RECENT_SLOTS,
    STATE_MAX_AGE,
    Commit,
    Effect,
    OutboxError,
)
from . import skips
from .event_time import MIXED_PERIOD
from .mapping import OUT_OF_ORDER, Evaluation, Event, Mapping, Rejected
from .routing import route

# Topics whose matching mappings are remembered (a flood of distinct topics can't grow it more).
ROUTE_CACHE = 4096
ONCE_CAP = 10_000  # (kind, topic) pairs remembered as already logged (least recent forgotten)
LOG_BURST = 20  # bad-input lines logged one by one per window ...
LOG_WINDOW = 60.0  # ... of this many seconds; the rest are summed up in one line
STATUS_HINT = "see `exist-bridge status`"  # where bad input can be looked at (OnceLogger.hint)

log = logging.getLogger("exist_bridge.ingest")


@dataclass(slots=True)
class IncomingMessage:
    """One MQTT message as the processor sees it (built per message: slotted, never changed)."""

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
    evaluation: Evaluation
    effects: tuple[Effect, ...]  # what it adds to / sets in the outbox, with local dates
    value: object = None  # the value extracted from the payload (None: not reached)

    @property
    def condition(self) -> str | None:
        """The condition's result read from the evaluation (the order of evaluation is in
        ``mapping``'s docstring): "true", "false", "undefined", "error" or None (no condition,
        or the message stopped before it)."""
        if not self.mapping.spec.condition:
            return None
        ev = self.evaluation
        if ev.skipped in ("condition false", "condition undefined"):
            return ev.skipped.split()[1]
        if ev.rejected is not None and (
            ev.rejected.kind == "condition_error" or ev.rejected.detail.startswith("condition")
        ):
            return "error"
        if ev.skipped == "retained snapshot" and ev.new_state is None and self.value is None:
            return None  # skipped before the condition
        if ev.rejected is not None and ev.rejected.kind in ("too_large", "not_utf8"):
            return None
        return "true"


def _amount(effect: Effect) -> str:
    if effect.mode == "increment":
        text = str(effect.value)
        return text if text.startswith("-") else f"+{text}"
    return f"= {effect.value}"


def _whose(effect: Effect) -> str:
    """``bob: `` for a named account's effect, nothing for the single account's."""
    return f"{effect.account}: " if effect.account else ""


def summary(outcome: Outcome) -> str:
    """One phrase: ``coffees +1 on 2026-11-29``, ``coffees: condition false``,
    ``fridge_opens: edge: state recorded (no previous state)``, ``steps: bad input (...)``."""
    ev, mapping = outcome.evaluation, outcome.mapping
    if outcome.effects:
        return ", ".join(
            f"{_whose(e)}{e.attribute} {_amount(e)} on {e.date}" for e in outcome.effects
        )
    if ev.rejected is not None:
        return f"{mapping.attribute}: bad input ({ev.rejected.kind}: {ev.rejected.detail})"
    why = ev.skipped or "no effect"
    if mapping.spec.edge is not None and why in ("no previous state", "not an edge"):
        return f"{mapping.attribute}: edge: state recorded ({why})"
    return f"{mapping.attribute}: {why}"


# Called with each message and what every matching mapping made of it (nothing: no mapping).
Tracer = Callable[["IncomingMessage", list[Outcome]], None]


class OnceLogger:
    """Logs a problem the first time it's seen for a (kind, topic), then only counts it.

    Bounded memory: the last ``cap`` pairs are remembered (least recently seen forgotten first).
    Bounded volume: at most ``burst`` lines per ``window`` seconds; the pairs beyond are summed
    up in one line at the first bad input after that window (or at shutdown); all of them are
    counted and kept as dead letters."""

    def __init__(
        self,
        logger: logging.Logger,
        cap: int = ONCE_CAP,
        burst: int = LOG_BURST,
        window: float = LOG_WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.logger = logger
        self.seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self.cap = cap
        self.burst = burst
        self.window = window
        self.clock = clock
        self._window_start: float | None = None
        self._logged = 0
        self._suppressed: dict[str, int] = {}  # kind -> new pairs not logged in this window
        self.hint = STATUS_HINT  # a dry run or the demo keeps no state `status` could show

    def warn(self, kind: str, topic: str, message: str) -> None:
        now = self.clock()
        if self._window_start is None or now - self._window_start >= self.window:
            self.summarise()
            self._window_start, self._logged = now, 0
        key = (kind, topic)
        if key in self.seen:
            self.seen.move_to_end(key)
            return
        self.seen[key] = None
        if len(self.seen) > self.cap:
            self.seen.popitem(last=False)
        if self._logged >= self.burst:
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
            return
        self._logged += 1
        self.logger.warning(
            "%s on %s: %s (further '%s' on this topic are only counted; %s)",
            kind,
            topic,
            message,
            kind,
            self.hint,
        )

    def summarise(self) -> None:
        """Log the one summary line for the pairs not logged one by one (if any)."""
        if not self._suppressed:
            return
        self.logger.warning(
            "bad input on %d more new topic(s) in %.0fs not logged one by one (%s): a flood of "
            "topics; every message is counted and kept as a dead letter, %s",
            sum(self._suppressed.values()),
            self.window,
            ", ".join(f"{k}: {n}" for k, n in sorted(self._suppressed.items())),
            self.hint,
        )
        self._suppressed = {}


class StateSource(Protocol):
    """Where ``MessageProcessor`` finds the per-topic states and recent packet ids at start: the
    outbox, or a read-only snapshot of one (``trial``)."""

    def edge_states(self) -> dict[str, object]: ...

    def recent(self) -> dict[int, tuple[str, bytes]]: ...

    def rekey_states(
        self, renamed: dict[str, str], dropped: Iterable[str], older_than: float | None = None
    ) -> int: ...


def migrate_state_keys(
    outbox: StateSource, mappings: list[Mapping], now: float | None = None
) -> tuple[int, int, int]:
    """Re-key per-topic states stored by position (``"<index>:<topic>"``, older versions) to
    ``Mapping.state_key``, and prune states not seen for ``STATE_MAX_AGE``. Returns (migrated,
    dropped, aged out). An old key is migrated when the mapping now at that position matches
    its topic and the state has that mapping's shape (counter/duration/edge); otherwise it is
    dropped (that topic starts again from a baseline). Never raises for odd keys."""
    renamed: dict[str, str] = {}
    dropped: list[str] = []
    for key, state in outbox.edge_states().items():
        if key.startswith("["):  # already keyed by Mapping.state_key
            continue
        index, sep, topic = key.partition(":")
        mapping = None
        if sep and index.isdigit() and int(index) < len(mappings):
            mapping = mappings[int(index)]
        if mapping is not None and mapping.matches(topic) and _state_fits(mapping, state):
            renamed[key] = mapping.state_key(topic)
        else:
            dropped.append(key)
    now = time.time() if now is None else now
    try:
        aged = outbox.rekey_states(renamed, dropped, older_than=now - STATE_MAX_AGE)
    except OutboxError as err:  # a full or read-only disk: try again at the next start
        log.warning("per-topic states not re-keyed or pruned this time: %s", err)
        return 0, 0, 0
    if renamed or dropped:
        log.warning(
            "per-topic states were keyed by mapping position (older version): %d re-keyed to "
            "their mapping (assuming the mappings were not reordered since the last run), %d "
            "dropped because no mapping fits them (those topics start again from a baseline)",
            len(renamed),
            len(dropped),
        )
    if aged:
        log.info(
            "forgot the state of %d topic(s) not seen for %.0f days", aged, STATE_MAX_AGE / 86400
        )
    return len(renamed), len(dropped), aged


def _state_fits(mapping: Mapping, state: object) -> bool:
    """Whether ``state`` has the shape ``mapping`` keeps (so an old key can be trusted)."""
    if not (mapping.uses_state and isinstance(state, dict)):
        return False
    if mapping.mode == "counter":
        return "reading" in state
    if mapping.mode == "duration":
        return "on" in state
    return "last" in state


class LocalDates:
    """The local date of a moment in one time zone, cached per quarter hour of UTC (local
    midnights and clock changes fall on quarter hours), and only when both ends of that quarter
    hour have the same local date."""

    def __init__(self, timezone: str):
        self.zone = ZoneInfo(timezone)
        self._quarter: float | None = None
        self._quarter_date = ""

    def of(self, when: float) -> str:
        """The ISO local date at ``when`` (epoch seconds)."""
        quarter = when // 900
        if quarter == self._quarter:
            return self._quarter_date
        day = datetime.fromtimestamp(when, self.zone).date().isoformat()
        first = datetime.fromtimestamp(quarter * 900, self.zone).date().isoformat()
        last = datetime.fromtimestamp(quarter * 900 + 899.999, self.zone).date().isoformat()
        if first == day == last:
            self._quarter, self._quarter_date = quarter, day
        return day


class MessageProcessor:
    """Pure bookkeeping on the network thread: no I/O, so it keeps up with the broker."""

    def __init__(
        self,
        mappings: list[Mapping],
        timezone: str,
        outbox: StateSource,
        max_states: int = MAX_TOPIC_STATES,
        observer: Callable[[int, str], None] | None = None,
        zones: MappingOf[str, str] | None = None,
    ):
        """``timezone``: where a day starts; ``zones``: per Exist account, where that
        account's day starts (an account not in it: ``timezone``)."""
        self.mappings = mappings
        # told (mapping index, outcome) per matching mapping: "received", then "counted",
        # "skipped" or "rejected" (the HTTP endpoint's per-mapping metrics)
        self.observer = observer
        self._dates = LocalDates(timezone)
        self.zone = self._dates.zone
        self._account_dates = {
            account: LocalDates(zone) for account, zone in (zones or {}).items() if zone != timezone
        }
        migrate_state_keys(outbox, mappings)
        # per-topic states, least recently seen first (pruned beyond ``max_states``)
        self.max_states = max_states
        self.states: OrderedDict[str, object] = OrderedDict(outbox.edge_states())
        self._over = [
            self.states.popitem(last=False)[0] for _ in range(max(0, len(self.states) - max_states))
        ]  # dropped from disk with the next commit
        self.recent: OrderedDict[int, tuple[str, bytes]] = OrderedDict(outbox.recent())
        self.once = OnceLogger(log)
        self.tracer: Tracer | None = None  # exist-bridge test and run --dry-run
        self._reconfigure = threading.Lock()  # a reload waits for the message being processed

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
        """The local date at ``when`` in the (default account's) time zone."""
        return self._dates.of(when)

    def _remember(self, mid: int, topic: str, digest: bytes) -> None:
        self.recent.pop(mid, None)
        self.recent[mid] = (topic, digest)
        while len(self.recent) > RECENT_SLOTS:
            self.recent.popitem(last=False)

    def _note_time(self, commit: Commit, topic: str, evaluation: Evaluation) -> None:
        """Count how an ``event_time`` mapping timed the message (``event_time.payload``, or the
        reason it fell back to the receive time, logged once per topic; or out of order), and a
        duration period dropped because its two ends were timed by different clocks."""
        reading = evaluation.time
        if reading is None:  # the mapping has no event_time
            return
        name = "payload" if reading.fallback is None else reading.fallback
        if evaluation.skipped == OUT_OF_ORDER:
            name = "out_of_order"
        names = [name, "period_dropped"] if evaluation.skipped == MIXED_PERIOD else [name]
        for name in names:  # a dropped duration period: counted besides the message's timing
            key = f"event_time.{name}"
            commit.counters[key] = commit.counters.get(key, 0) + 1
        if reading.fallback is not None:
            self.once.warn(f"event_time_{reading.fallback}", topic, reading.detail)

    def replace_mappings(self, mappings: list[Mapping]) -> list[str]:
        """Process the next messages with ``mappings`` (a reload). The per-topic states of
        mappings whose ``state_id`` is unchanged are kept; the others' are forgotten (deleted
        from the outbox with the next message's commit) and their keys returned. Between two
        messages: never while one is being processed."""
        ids = {m.state_id for m in mappings if m.uses_state}
        with self._reconfigure:
            gone = [key for key in self.states if not _kept(key, ids)]
            for key in gone:
                del self.states[key]
            self._over.extend(gone)
            self.mappings = mappings
        return gone

    def process(self, msg: IncomingMessage) -> Commit:
        """The commit for one message (effects, states, dead letters, counters)."""
        with self._reconfigure:
            return self._process(msg)

    def _process(self, msg: IncomingMessage) -> Commit:
        digest = hashlib.blake2b(msg.payload, digest_size=16).digest()
        acked = msg.qos > 0 and msg.mid > 0
        if acked and msg.dup and self.recent.get(msg.mid) == (msg.topic, digest):
            # A redelivery of a message already taken in (committed, or queued to be).
            return Commit(counters={"duplicates_ignored": 1})
        if acked:
            self._remember(msg.mid, msg.topic, digest)
        commit = Commit(msg.mid if acked else 0, msg.topic, digest, [], {}, [], [], {"messages": 1})
        if self._over:
            commit.dropped.extend(self._over)
            self._over = []
        matched = self._route(msg.topic)
        outcomes: list[Outcome] | None = (
            [] if self.tracer is not None or log.isEnabledFor(logging.DEBUG) else None
        )
        if not matched:
            commit.counters["unmatched"] = 1
            self._tell(msg, outcomes)
            return commit
        received_at = msg.received_at or time.time()
        observe = self.observer or _ignore
        for mapping in matched:
            observe(mapping.index, "received")
            dates = self._account_dates.get(mapping.spec.account, self._dates)
            day = dates.of(received_at)  # the account's local date (cached per quarter hour)
            key = mapping.state_key(msg.topic)
            before = self.states.get(key)
            seen: dict[str, Any] | None = None if outcomes is None else {}
            evaluation = mapping.evaluate(
                msg.topic,
                msg.payload,
                msg.retain,
                before,
                received_at=received_at,
                zone=dates.zone,
                seen=seen,
            )
            first_effect = len(commit.effects)
            if evaluation.time is not None:  # the mapping has event_time
                self._note_time(commit, msg.topic, evaluation)
            if mapping.uses_state and evaluation.new_state is not None:
                self._keep_state(commit, key, evaluation.new_state)
            if evaluation.rejected is not None:
                self._reject(commit, msg, mapping.index, evaluation.rejected)
                observe(mapping.index, "rejected")
            elif evaluation.event is not None:
                observe(mapping.index, "counted")
                due = received_at + mapping.spec.delay  # when it must be sent at the latest
                self._count(commit, evaluation.events, day, due, mapping.spec.account, dates)
            else:
                why = skips.counter(mapping.index, evaluation.skipped)
                for name in ("skipped", why):
                    commit.counters[name] = commit.counters.get(name, 0) + 1
                observe(mapping.index, "skipped")
            if outcomes is not None:
                effects = tuple(commit.effects[first_effect:])
                value = seen.get("value") if seen is not None else None
                outcomes.append(Outcome(mapping, before, evaluation, effects, value))
        self._tell(msg, outcomes)
        return commit

    def _keep_state(self, commit: Commit, key: str, state: object) -> None:
        """Keep a topic's new state (in memory and in the commit), forgetting the least recently
        seen beyond ``max_states``."""
        self.states[key] = state
        self.states.move_to_end(key)
        commit.states[key] = state
        while len(self.states) > self.max_states:
            old = self.states.popitem(last=False)[0]
            commit.states.pop(old, None)
            commit.dropped.append(old)

    def _reject(self, commit: Commit, msg: IncomingMessage, index: int, why: Rejected) -> None:
        """Bad input: a dead letter, a counter by kind, a warning once per topic and kind."""
        commit.dead.append((why.kind, f"mapping {index}: {why.detail}", msg.payload))
        commit.counters[f"bad_input.{why.kind}"] = (
            commit.counters.get(f"bad_input.{why.kind}", 0) + 1
        )
        self.once.warn(why.kind, msg.topic, why.detail)

    def _count(
        self,
        commit: Commit,
        events: tuple[Event, ...],
        day: str,
        due: float,
        account: str,
        dates: LocalDates,
    ) -> None:
        """The effects of counted events for ``account`` (several: a duration split at local
        midnight), each on its own local date (``day`` unless the event has a time, then by
        ``dates``), due by ``due``."""
        for ev in events:
            date = day if ev.at is None else dates.of(ev.at)
            commit.effects.append(Effect(ev.attribute, date, ev.mode, ev.value, due, account))
            commit.counters["events"] = commit.counters.get("events", 0) + 1

    def _tell(self, msg: IncomingMessage, outcomes: list[Outcome] | None) -> None:
        """The debug line for a message (one per message) and the tracer, if any."""
        if outcomes is None:
            return
        if log.isEnabledFor(logging.DEBUG):
            what = "; ".join(summary(o) for o in outcomes) or "no mapping matches this topic"
            log.debug("%s -> %s", msg.topic, what)
        if self.tracer is not None:
            self.tracer(msg, outcomes)


def _kept(key: str, state_ids: set[str]) -> bool:
    """Whether the state under ``key`` (``Mapping.state_key``: ``<state_id> <topic>``) belongs
    to one of ``state_ids``."""
    return any(key.startswith(f"{sid} ") for sid in state_ids)


def _ignore(index: int, outcome: str) -> None:
    """The observer when none is set."""
