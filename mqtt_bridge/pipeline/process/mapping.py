"""What one MQTT message means for Exist, per mapping: an ``Event`` (add to, or set, the day's value
of an attribute), a skip (the message doesn't count), or a ``Rejected`` (bad input).

Pure and total: no I/O, and ``Mapping.evaluate`` never raises, whatever the payload. The caller
keeps the edge state per (mapping, topic) and passes it back in (``Evaluation.new_state``), under
``Mapping.state_key(topic)``: keyed on what the mapping reads (attribute, mode, topic filter,
json_path, value_template), not on its position in the file, so reordering the mappings keeps each
one's state, and changing what a mapping reads starts it afresh.

The order of evaluation for one message:
1. a retained message on a mapping without edge and with ``retained: ignore`` is skipped
   ("retained snapshot") without looking further; then the size (``too_large``);
2. UTF-8 (``not_utf8``); the JSON is parsed only if json_path or a template's value_json needs it;
3. ``condition``: false -> skipped "condition false"; a missing key/variable -> skipped
   "condition undefined" (a device's other messages often lack the key); other errors reject;
   with ``event_time``, then the message's time (below), and an ``OUT_OF_ORDER`` skip;
4. the value: json_path (``not_json``, ``path_missing``), value_template (``template_error``,
   ``not_json``) or the payload text;
5. edge: the normalised value becomes the new state; it counts only on a ``from`` -> ``to``
   transition with a known previous state and not from a retained message;
6. the event: increment adds ``amount`` (or the value itself: ``not_a_number``, ``not_finite``);
   update sets the value (a finite number, or text); counter and duration as below.

Counter mode (a cumulative meter: Tasmota ``ENERGY.Total`` in kWh, a Shelly's ``total`` in Wh): the
state per (mapping, topic) is ``{"reading": r, "carry": c}``. The first reading is only a baseline.
A higher reading adds ``(reading - last) * scale``, rounded to 6 decimals (no float noise); an
equal one adds nothing. A lower reading is a meter reset (reboot, replacement): it adds the
reading itself, counted from zero (a negative one adds nothing), and becomes the new baseline. A
retained reading is still a correct delta against the stored one, so it counts when it is higher;
when it is lower it is taken as an old snapshot, never as a reset, and ignored. On an integer
attribute only whole amounts are added; the fraction is carried (``carry``) to the next reading.
An increase lands on the local date it is received (with ``event_time``: happened). Readings
must be finite numbers (numeric text is fine): ``not_a_number``, ``not_finite``, ``no_value``
(null). Home Assistant's ``unavailable``/``unknown`` (no reading) are skipped as
``unavailable``, in every mode that expects a number.

Duration mode (occupancy, presence, a TV's power): the state is ``{"on": bool, "since": t,
"carry": seconds}``. A value in ``on_states`` (default: true/ON/on, 1, occupied, open, home,
detected) is on, anything else off. Off -> on starts the clock at the message's receive time; on ->
off adds the whole minutes since then, carrying the leftover seconds to the next period (10 visits
of 90 s give 15 minutes); a repeated on adds the minutes so far and keeps the period open (the
clock is not restarted); an off without an on adds nothing. A period that crosses local midnight is
split: each day gets the minutes that fell on it (events carry a timestamp ``at`` inside their
day). A retained message never adds time (when it changed is unknown): a retained on while off
starts the clock at receipt, a retained off while on closes the period without counting it.
Times are the bridge's receive times (a queued message is timed at its delivery: MQTT carries no
publish time), unless the mapping has ``event_time`` (``event_time.py``): then the time the payload
gives (after the trust window) times the events (``Event.at``), duration periods and splits. Only
a trusted time is kept in the state (``"at"``, the ordering clock): a message older than its
topic's last trusted one is ``OUT_OF_ORDER``; an untrusted one (timed at its receipt) is never out
of order and never moves the clock. A duration period with one end timed each way is dropped
(``MIXED_PERIOD``; the state's ``"receipt"`` marks a ``since`` that is a receive time).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from collections.abc import Mapping as MappingOf
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any

from ...config.model import AttributeSpec, BridgeConfig, EdgeSpec, MappingSpec
from ...exist.domain import INTEGER_TYPES, MAX_ABS_VALUE, STRING
from ...expressions import (
    NOT_JSON,
    JsonPath,
    Payload,
    RenderFailure,
    compile_template,
    is_truthy,
    normalize_state,
    parse_number,
    same_state,
)
from .event_time import (
    MIXED_PERIOD,
    EventClock,
    TimeReading,
    is_out_of_order,
    ordering_time,
    stamped,
)
from .numbers import Reject, numeric, out_of_range, show, truncate
from .routing import filter_matches
from .states import counter_state as _counter_state
from .states import duration_state as _duration_state
from .states import on_state as _on_state

__all__ = ["Evaluation", "Event", "Mapping", "Rejected", "build_mappings"]

NO_VALUE_STATES = frozenset({"unavailable", "unknown", "none"})
DEFAULT_ON_STATES = (True, 1, "occupied", "open", "home", "detected")
DECIMALS = 6  # counter amounts are rounded to this many places (no float noise)
MAX_PERIOD = 400 * 86400.0  # a longer "on" period is a broken clock or state, not a visit
OUT_OF_ORDER = "older than the topic's last message (out of order)"


# The records built per message (``Event``, ``Evaluation``, ``_Clock``; the processor's and the
# outbox's too) are slotted dataclasses, not frozen ones: building a frozen dataclass costs about
# ten times as much (each field is set through ``object.__setattr__``), on the ingest's hot path.
# They are never changed once built (``dataclasses.replace`` makes a new one).


@dataclass(slots=True)
class Event:
    """What one message means for Exist."""

    attribute: str
    mode: str  # "increment" or "update" (what the outbox does; counter/duration increment)
    value: int | float | str  # the amount to add (increment) or the day's total (update)
    at: float | None = None  # a time inside the day it belongs to; None: the receive time's day


@dataclass(frozen=True)
class Rejected:
    """Bad input: ``kind`` is a short stable category, ``detail`` a (truncated) explanation."""

    kind: str
    detail: str


@dataclass(slots=True)
class Evaluation:
    event: Event | None  # None when the message does not count (or was rejected)
    new_state: object  # the state after this message; None when the mapping keeps none
    rejected: Rejected | None = None
    skipped: str | None = None  # why it didn't count when not rejected
    more: tuple[Event, ...] = ()  # further events (a duration split at midnight)
    time: TimeReading | None = None  # with event_time: when it was counted, and any fallback

    @property
    def events(self) -> tuple[Event, ...]:
        """Every event of this message, in order (``event`` first)."""
        return () if self.event is None else (self.event, *self.more)


@dataclass(slots=True)
class _Clock:
    now: float  # the message's receive time (epoch seconds)
    zone: tzinfo  # the user's time zone
    seen: dict[str, Any]  # evaluate(seen=...): gets "value", the value extracted (if reached)
    fallback: bool = False  # ``now`` is a receive time standing in for an untrusted event time


class Mapping:
    """One ``mappings`` entry, compiled: matches topics and evaluates messages."""

    def __init__(
        self,
        index: int,
        spec: MappingSpec,
        *,
        max_payload_bytes: int = 262_144,
        attribute_spec: AttributeSpec | None = None,
        learned_type: int | None = None,
        event_time_window: float = 7 * 86400.0,
        event_time_skew: float = 300.0,
    ):
        self.index = index
        self.spec = spec
        # What identifies this mapping's per-topic state (``state_key``); build_mappings appends
        # "#n" to the n-th further mapping that reads the same.
        reads = [spec.attribute, spec.mode, spec.topic, spec.json_path, spec.value_template]
        if spec.account:  # a named account's state is its own (the single account's: as before)
            reads.append(spec.account)
        self.state_id = json.dumps(reads, ensure_ascii=False)
        self.attribute = spec.attribute
        self.mode = spec.mode
        # Whether the caller must keep state per topic (edge, counter and duration modes); it
        # must be JSON-serialisable (it is persisted with the message's commit).
        self.uses_state = spec.edge is not None or spec.mode in ("counter", "duration")
        self.max_payload_bytes = max_payload_bytes
        self._exact = "+" not in spec.topic and "#" not in spec.topic
        self._topic = spec.topic
        self._levels = spec.topic.split("/")
        self._path = JsonPath(spec.json_path) if spec.json_path else None
        self._template = compile_template(spec.value_template) if spec.value_template else None
        self._condition = compile_template(spec.condition) if spec.condition else None
        self._clock = (
            EventClock(spec.event_time, window=event_time_window, skew=event_time_skew)
            if spec.event_time
            else None
        )
        # What the attribute holds lets bad values be refused here rather than by Exist: the value
        # type Exist reported (``learned_type``), else a custom spec's declared one; "any" when
        # neither is known yet (Exist then judges, and the client coerces).
        custom = attribute_spec if attribute_spec and attribute_spec.template is None else None
        declared = custom.value_type if custom is not None else None
        self.value_type: int | None = learned_type if learned_type is not None else declared
        if self.value_type is None:
            self.expects = "any"
        else:
            self.expects = "string" if self.value_type == STRING else "number"

    def __repr__(self) -> str:
        return f"<Mapping {self.index}: {self.spec.topic} -> {self.attribute} ({self.mode})>"

    def matches(self, topic: str) -> bool:
        """Whether ``topic`` matches this mapping's topic filter (MQTT rules, as paho's
        ``topic_matches_sub``, without building a matcher tree per call)."""
        if self._exact:
            return topic == self._topic
        try:
            return filter_matches(self._levels, topic)
        except Exception:  # noqa: BLE001 - a hostile topic must not break routing
            return False

    def state_key(self, topic: str) -> str:
        """The key of this mapping's state for ``topic`` (stable across reordered mappings)."""
        return f"{self.state_id} {topic}"

    @property
    def effect_mode(self) -> str:
        """What the outbox does with this mapping's events: "update" or "increment"."""
        return "update" if self.mode == "update" else "increment"

    # ------------------------------------------------------------------------------ evaluate

    def evaluate(
        self,
        topic: str,
        payload: bytes,
        retained: bool,
        previous_state: object,
        *,
        received_at: float | None = None,
        zone: tzinfo | None = None,
        seen: dict[str, Any] | None = None,
    ) -> Evaluation:
        """What this message means; never raises.

        ``received_at`` (epoch seconds, default now) and ``zone`` (the user's time zone, default
        UTC): when a state changed and where local midnight is (duration mode), and the trust
        window and naive times of ``event_time``. With ``event_time``, events carry the time they
        count at (``Event.at``), states remember it (``"at"``), and a message older than its
        topic's last one is skipped (``OUT_OF_ORDER``). A ``seen`` dict gets the ``"value"``.
        """
        keep = previous_state if self.uses_state else None
        now = time.time() if received_at is None else received_at
        clock = _Clock(now, zone or timezone.utc, {} if seen is None else seen)
        try:
            return self._evaluate(topic, payload, retained, previous_state, clock)
        except Reject as rej:
            return Evaluation(None, keep, Rejected(rej.kind, truncate(rej.detail)))
        except Exception as err:  # noqa: BLE001 - a safety net: bad input never crashes ingest
            return Evaluation(
                None, keep, Rejected("internal_error", truncate(f"{type(err).__name__}: {err}"))
            )

    def _evaluate(
        self, topic: str, payload: bytes, retained: bool, previous_state: object, clock: _Clock
    ) -> Evaluation:
        spec = self.spec
        keep = previous_state if self.uses_state else None
        if isinstance(payload, str):
            payload = payload.encode("utf-8", "surrogatepass")
        if retained and spec.retained == "ignore" and not self.uses_state:
            return Evaluation(None, None, skipped="retained snapshot")  # unused, so not judged
        size = len(payload)
        if size > self.max_payload_bytes:
            raise Reject(
                "too_large",
                f"payload is {size} bytes; max_payload_bytes is {self.max_payload_bytes}",
            )
        try:
            text = bytes(payload).decode("utf-8")
        except UnicodeDecodeError:
            raise Reject(
                "not_utf8",
                f"payload is not UTF-8 text ({size} bytes, starting {bytes(payload[:16]).hex()})",
            ) from None
        message = Payload(text.removeprefix("\ufeff"))

        if self._condition is not None:
            verdict = self._render(self._condition, message, topic)
            if isinstance(verdict, RenderFailure):
                if verdict.undefined and message.json_error is None:
                    return Evaluation(None, keep, skipped="condition undefined")
                if verdict.undefined:
                    raise Reject("not_json", f"condition needs value_json: {message.json_error}")
                raise Reject("condition_error", f"condition: {verdict.detail}")
            if not is_truthy(verdict):
                return Evaluation(None, keep, skipped="condition false")

        if self._clock is None:
            return self._by_mode(message, topic, previous_state, retained, clock)
        reading = self._clock.resolve(message.text, topic, message.json, clock.now, clock.zone)
        last = ordering_time(keep)  # the last trusted event time: a fallback never sets it
        if is_out_of_order(reading, last):
            return Evaluation(None, keep, skipped=OUT_OF_ORDER, time=reading)
        timed = replace(clock, now=reading.at, fallback=reading.fallback is not None)
        evaluation = self._by_mode(message, topic, previous_state, retained, timed)
        return stamped(evaluation, reading, last)

    def _by_mode(
        self, message: Payload, topic: str, previous_state: object, retained: bool, clock: _Clock
    ) -> Evaluation:
        """Steps 4 to 6: the value, then what the mode makes of it."""
        spec = self.spec
        value = clock.seen["value"] = self._extract(message, topic)
        if self._no_reading(value):
            keep = previous_state if self.uses_state else None
            return Evaluation(None, keep, skipped=f"unavailable ({value.strip()!r}: no reading)")

        if self.mode == "counter":
            return self._counter(value, previous_state, retained)
        if self.mode == "duration":
            return self._duration(value, previous_state, retained, clock)

        new_state = None
        if self.spec.edge is not None:  # uses_state, for the increment and update modes
            new_state, counts, why = self._edge(self.spec.edge, value, previous_state, retained)
            if not counts:
                return Evaluation(None, new_state, skipped=why)

        if self.mode == "increment":
            amount = self._number(value) if spec.amount == "value" else spec.amount
            return Evaluation(Event(self.attribute, "increment", amount), new_state)
        return Evaluation(Event(self.attribute, "update", self._total(value)), new_state)

    def _no_reading(self, value: Any) -> bool:
        """Home Assistant's ``unavailable``/``unknown`` where a number is expected: a sensor
        without a reading (offline, restarting), skipped rather than kept as bad input. Edge and
        duration modes read them as states, as before."""
        if not isinstance(value, str) or value.strip().lower() not in NO_VALUE_STATES:
            return False
        if self.spec.edge is not None or self.mode == "duration":
            return False
        if self.mode == "increment":
            return self.spec.amount == "value"
        return self.expects != "string"

    # ------------------------------------------------------------------------------ steps

    @staticmethod
    def _render(template: Any, message: Payload, topic: str) -> str | RenderFailure:
        if template.uses_value_json:
            data = message.json()
            if data is not NOT_JSON:
                return template.render(message.text, topic, data)
        return template.render(message.text, topic)

    def _extract(self, message: Payload, topic: str) -> Any:
        if self._path is not None:
            data = message.json()
            if data is NOT_JSON:
                raise Reject("not_json", f"json_path {self._path.text}: {message.json_error}")
            try:
                return self._path.get(data)
            except LookupError as err:
                raise Reject("path_missing", f"json_path {self._path.text}: {err}") from None
        if self._template is not None:
            rendered = self._render(self._template, message, topic)
            if isinstance(rendered, RenderFailure):
                if rendered.undefined and message.json_error is not None:
                    raise Reject(
                        "not_json", f"value_template needs value_json: {message.json_error}"
                    )
                raise Reject("template_error", f"value_template: {rendered.detail}")
            return rendered
        return message.text

    def _edge(
        self, edge: EdgeSpec, value: Any, previous_state: object, retained: bool
    ) -> tuple[Any, bool, str]:
        if isinstance(value, (dict, list)):
            raise Reject("not_scalar", f"edge needs a single state, got {show(value)}")
        state = normalize_state(value)
        if isinstance(state, float) and not math.isfinite(state):
            raise Reject("not_finite", f"state {show(value)} is not a finite number")
        new_state = {"last": state}
        if retained:
            return new_state, False, "retained snapshot"
        if not isinstance(previous_state, dict) or "last" not in previous_state:
            return new_state, False, "no previous state"
        before = previous_state["last"]
        if not same_state(state, edge.to):
            return new_state, False, "not an edge"
        if edge.has_from and not same_state(before, edge.from_):
            return new_state, False, "not an edge"
        if not edge.has_from and same_state(before, edge.to):
            return new_state, False, "not an edge"
        return new_state, True, ""

    # ------------------------------------------------------------------------------ counter

    def _counter(self, value: Any, previous_state: object, retained: bool) -> Evaluation:
        reading = self._reading(value)
        last, carry = _counter_state(previous_state)
        state = {"reading": reading, "carry": carry}
        if last is None:
            return Evaluation(None, state, skipped="baseline (first reading)")
        if reading < last:
            if retained:  # an old snapshot, not a reset: keep counting from the stored reading
                kept = {"reading": last, "carry": carry}
                return Evaluation(None, kept, skipped="retained reading below the last")
            increase = max(reading, 0.0)  # a reset: the meter counted up again from zero
        else:
            increase = reading - last
        amount = round(increase * self.spec.scale + carry, DECIMALS)
        if not math.isfinite(amount):
            raise Reject("not_finite", f"the increase from {last} to {reading} is not finite")
        if self.value_type in INTEGER_TYPES:
            whole = math.floor(amount)
            state["carry"] = round(amount - whole, DECIMALS)
            amount = whole
        else:
            state["carry"] = 0.0
        if amount <= 0:
            why = "no whole increase yet (fraction carried)" if state["carry"] else "no increase"
            return Evaluation(None, state, skipped=why)
        value = int(amount) if float(amount).is_integer() else amount
        return Evaluation(Event(self.attribute, "increment", value), state)

    def _reading(self, value: Any) -> float:
        """A meter reading: a finite number (numeric text accepted), as a float."""
        if isinstance(value, str) and value.strip().lower() in NO_VALUE_STATES:
            raise Reject("no_value", f"{value.strip()!r} is a 'no reading' state")
        if value is None:
            raise Reject("no_value", "null")
        if isinstance(value, (dict, list)):
            raise Reject("not_scalar", f"expected a meter reading, got {show(value)}")
        number = numeric(value)
        try:
            reading = float(number)
        except OverflowError:
            reading = math.inf
        if not math.isfinite(reading):
            raise Reject("not_finite", f"{show(value)} is not a finite number")
        return reading

    # ------------------------------------------------------------------------------ duration

    def _duration(
        self, value: Any, previous_state: object, retained: bool, clock: _Clock
    ) -> Evaluation:
        if isinstance(value, (dict, list)):
            raise Reject("not_scalar", f"expected an on/off state, got {show(value)}")
        state = normalize_state(value)
        if isinstance(state, float) and not math.isfinite(state):
            raise Reject("not_finite", f"state {show(value)} is not a finite number")
        on_states = self.spec.on_states or DEFAULT_ON_STATES
        is_on = any(
            same_state(state, s) or (isinstance(s, str) and _same_text(state, s)) for s in on_states
        )
        was_on, since, carry = _duration_state(previous_state)
        # the period's start was timed by the receipt, not an event time (see MIXED_PERIOD)
        started_at_receipt = (
            isinstance(previous_state, dict) and previous_state.get("receipt") is True
        )
        now, receipt = clock.now, clock.fallback  # receipt: ``now`` is not an event time
        if retained:
            if was_on and not is_on:
                return Evaluation(
                    None, _on_state(False, None, carry), skipped="retained off: period dropped"
                )
            if is_on and not was_on:
                started = _on_state(True, now, carry, receipt)
                return Evaluation(None, started, skipped="on (retained)")
            kept = _on_state(was_on, since, carry, was_on and started_at_receipt)
            return Evaluation(None, kept, skipped="retained snapshot")
        if not was_on or since is None:  # (since: the time it went on, None while off)
            if is_on:
                state = _on_state(True, now, carry, receipt)
                return Evaluation(None, state, skipped="on: clock started")
            return Evaluation(None, _on_state(False, None, carry), skipped="off without on")
        new_state = _on_state(is_on, now if is_on else None, carry, receipt and is_on)
        if started_at_receipt != receipt:  # one end on each clock
            return Evaluation(None, new_state, skipped=MIXED_PERIOD)
        if now - since > MAX_PERIOD:  # a broken clock or state: don't add months of minutes
            return Evaluation(None, new_state, skipped="on for too long: period dropped")
        events, carry = self._minutes(since, now, carry, clock.zone)
        new_state["carry"] = carry
        if not events:
            return Evaluation(None, new_state, skipped="under a minute (seconds carried)")
        return Evaluation(events[0], new_state, more=tuple(events[1:]))

    def _minutes(
        self, since: float, until: float, carry: float, zone: tzinfo
    ) -> tuple[list[Event], float]:
        """Whole minutes in [since, until) per local day, and the seconds left over."""
        events: list[Event] = []
        start = since
        while start < until:
            end = min(_next_midnight(start, zone), until)
            carry += end - start
            minutes = int(carry // 60)
            carry -= minutes * 60
            if minutes > 0:
                events.append(Event(self.attribute, "increment", minutes, at=(start + end) / 2))
            start = end
        return events, round(carry, 3)

    def _number(self, value: Any) -> int | float:
        """A finite number (numeric text accepted), whole for integer attributes."""
        given, value = value, numeric(value)
        if isinstance(value, float) and not math.isfinite(value):  # (numeric reads inf as nan)
            raise Reject("not_finite", f"{show(given)} is not a finite number")
        if abs(value) > MAX_ABS_VALUE:
            raise Reject("out_of_range", out_of_range(value))
        if self.value_type in INTEGER_TYPES and isinstance(value, float):
            if not value.is_integer():
                raise Reject(
                    "not_an_integer",
                    f"{value} is not a whole number ({self.attribute} has value type "
                    f"{self.value_type})",
                )
            value = int(value)
        return value

    def _total(self, value: Any) -> int | float | str:
        """The day's total for update mode: a finite number, or text for string attributes."""
        if value is None or (isinstance(value, str) and not value.strip()):
            raise Reject("no_value", "the value is empty" if value is not None else "null")
        if (
            isinstance(value, str)
            and value.strip().lower() in NO_VALUE_STATES
            and self.expects != "string"
        ):
            # Home Assistant's states for "no reading": never a day's total, even before the
            # attribute's value type is known (it would replace a good total).
            raise Reject("no_value", f"{value.strip()!r} is a 'no reading' state")
        if isinstance(value, (dict, list)):
            raise Reject("not_scalar", f"expected a single value, got {show(value)}")
        if self.expects == "string":
            return value.strip() if isinstance(value, str) else json.dumps(value)
        if self.expects == "number" or not isinstance(value, str):
            return self._number(value)
        number = parse_number(value)
        if number is None:  # text: right for a string attribute (Exist refuses it otherwise)
            return value.strip()
        return self._number(number)


def _same_text(state: Any, on: str) -> bool:
    return isinstance(state, str) and state.strip().lower() == on.strip().lower()


def _next_midnight(when: float, zone: tzinfo) -> float:
    """The first local midnight after ``when`` (epoch seconds)."""
    day = datetime.fromtimestamp(when, zone).date()
    for ahead in (1, 2):  # 2: a midnight that a DST change made land before ``when``
        midnight = datetime.combine(day + timedelta(days=ahead), datetime.min.time(), zone)
        if midnight.timestamp() > when:
            return midnight.timestamp()
    return when + 86400.0


def build_mappings(
    config: BridgeConfig,
    value_types: Callable[[str], int | None] | None = None,
    by_account: MappingOf[str, Callable[[str], int | None]] | None = None,
) -> list[Mapping]:
    """The config's mappings, compiled, in file order (``Mapping.index`` is the position).

    ``value_types`` gives the value type Exist reported for an attribute name (learned by the
    client), so values can be checked locally without a copy of Exist's template table;
    ``by_account``: per account, the value types its Exist reported (else ``value_types``)."""
    declared = {a.name: a for a in config.attributes}

    def learned(spec: MappingSpec) -> int | None:
        types = (by_account or {}).get(spec.account, value_types)
        return types(spec.attribute) if types else None

    mappings = [
        Mapping(
            index,
            spec,
            max_payload_bytes=config.bridge.max_payload_bytes,
            attribute_spec=declared.get(spec.attribute),
            learned_type=learned(spec),
            event_time_window=config.bridge.event_time_window,
            event_time_skew=config.bridge.event_time_skew,
        )
        for index, spec in enumerate(config.mappings)
    ]
    seen: dict[str, int] = {}
    for mapping in mappings:  # identical mappings: the 1st, 2nd, ... of them keep theirs
        n = seen.get(mapping.state_id, 0)
        seen[mapping.state_id] = n + 1
        if n:
            mapping.state_id += f"#{n}"
    return mappings
