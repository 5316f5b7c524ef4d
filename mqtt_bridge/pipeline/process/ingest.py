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
from .mapping import Mapping, route

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

    def __init__(
        self,
        mappings: list[Mapping],
        timezone: str,
        outbox: Outbox,
        observer: Callable[[int, str], None] | None = None,
    ):
        self.mappings = mappings
        # told (mapping index, outcome) per matching mapping: "received", then "counted",
        # "skipped" or "rejected" (the HTTP endpoint's per-mapping metrics)
        self.observer = observer
        self.zone = ZoneInfo(timezone)
        self._quarter: float | None = None  # local_date's cache
        self._quarter_date = ""
        self.states: dict[str, object] = outbox.edge_states()
        self.recent: OrderedDict[int, tuple[str, bytes]] = OrderedDict(outbox.recent())
        self.once = OnceLogger(log)

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
        if not matched:
            commit.counters["unmatched"] = 1
            return commit
        received_at = msg.received_at or time.time()
        day = self.local_date(received_at)
        observe = self.observer or _ignore
        for mapping in matched:
            observe(mapping.index, "received")
            key = f"{mapping.index}:{msg.topic}"
            evaluation = mapping.evaluate(
                msg.topic,
                msg.payload,
                msg.retain,
                self.states.get(key),
                received_at=received_at,
                zone=self.zone,
            )
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
                observe(mapping.index, "rejected")
            elif evaluation.event is not None:
                observe(mapping.index, "counted")
                for ev in evaluation.events:  # several: a duration split at local midnight
                    date = day if ev.at is None else self.local_date(ev.at)
                    commit.effects.append(Effect(ev.attribute, date, ev.mode, ev.value))
                    commit.counters["events"] = commit.counters.get("events", 0) + 1
            else:
                commit.counters["skipped"] = commit.counters.get("skipped", 0) + 1
                observe(mapping.index, "skipped")
        return commit


def _ignore(index: int, outcome: str) -> None:
    """The observer when none is set."""
