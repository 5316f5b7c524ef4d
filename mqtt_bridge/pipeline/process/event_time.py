"""When an event happened, read from its payload (a mapping's ``event_time``); whether to trust it.

A mapping with ``event_time`` counts a message on the local date the device says it happened, not
the date the bridge received it (a message the broker held across midnight while the bridge was
down keeps its own day; a redelivered one too). Pure: no I/O, never raises to its caller.

Where the time is: a JSON path (``last_seen``, ``params.ts``), or a Jinja2 template when the text
holds ``{{`` or ``{%`` (variables ``value``, ``value_json``, ``topic``, as in ``value_template``).

What it may be (``parse_time``):
- a number, or numeric text: epoch seconds; from ``1e11`` up, epoch milliseconds (1e11 seconds is
  the year 5138, 1e11 ms is 1973), so zigbee2mqtt's ``epoch`` and Shelly's ``ts`` both work;
- ISO 8601 text: ``2026-11-29T23:59:00Z``, ``...+01:00``, ``2026-11-29 23:59:00.123``; a time
  without an offset (Tasmota's ``Time``, zigbee2mqtt's ``ISO_8601_local``) is in the bridge's time
  zone (``exist.timezone``, else the Exist profile's).

The trust rule (``EventClock.resolve``): a time more than ``bridge.event_time_window`` seconds
before the receive time, or more than ``bridge.event_time_skew`` seconds after it, is not trusted;
nor is a missing or unreadable one. The message is then timed at its receipt, as without
``event_time`` (it is never dropped: the usual cause is a device clock that isn't set yet, and
its events are real and live), and the reason is counted (``event_time.<reason>``) and logged
once per topic.

Ordering (``ordering_time``, ``is_out_of_order``, ``stamped``): an edge/counter/duration state
keeps the last *trusted* event time (``"at"``); a trusted message older than it is out of order
(skipped). A fallback is never out of order and never moves that clock: it stands for "now", not
for the event, so it must not make a backlog's later trusted messages look stale. Its value still
moves the state in arrival order (an edge's last state, a meter reading); a duration period with
one end timed by a payload and the other by a receipt is dropped (``MIXED_PERIOD``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo
from typing import Any

from .expressions import NOT_JSON, JsonPath, RenderFailure, compile_template, parse_number
from .states import finite

__all__ = [
    "FALLBACK_REASONS",
    "MILLISECONDS_FROM",
    "NOT_JSON",
    "EventClock",
    "TimeReading",
    "MIXED_PERIOD",
    "OUTCOMES",
    "is_out_of_order",
    "is_template",
    "ordering_time",
    "parse_time",
    "stamped",
    "summary",
]

MILLISECONDS_FROM = 1e11  # an epoch number this large (or larger) is in milliseconds
FALLBACK_REASONS = ("missing", "unreadable", "too_old", "in_future")
# Duration mode's skip when a period's start and end are not on the same clock (one an event
# time, the other a receive time standing in for an untrusted one): its length is unknown.
MIXED_PERIOD = "period timed by an event time and a receive time: dropped"
# The counters ``event_time.<outcome>`` (MessageProcessor): timed by the payload, at the receipt
# for one of FALLBACK_REASONS, skipped as out of order, a duration period dropped.
OUTCOMES = ("payload", *FALLBACK_REASONS, "out_of_order", "period_dropped")


def is_template(source: str) -> bool:
    """Whether an ``event_time`` text is a template (else it is a JSON path)."""
    return "{{" in source or "{%" in source


@dataclass(frozen=True)
class TimeReading:
    """The time a message is counted at (epoch seconds) and, when it is the receive time because
    the payload's time wasn't used, why (``fallback``: one of ``FALLBACK_REASONS``)."""

    at: float
    fallback: str | None = None
    detail: str = ""


class _Untrusted(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def parse_time(raw: Any, zone: tzinfo) -> float:
    """``raw`` (epoch s or ms, ISO 8601 text, a datetime) as epoch seconds; naive times are in
    ``zone``. Raises ``ValueError`` saying what it got when it is none of these."""
    if isinstance(raw, bool) or raw is None:
        raise ValueError(f"{raw!r} is not a time")
    if isinstance(raw, datetime):
        moment = raw
    elif isinstance(raw, (int, float)):
        return _epoch(raw)
    elif isinstance(raw, str):
        text = raw.strip()
        number = parse_number(text)
        if number is not None:
            return _epoch(number)
        try:
            # "Z" for UTC (zigbee2mqtt, Home Assistant): Python 3.10's parser refuses it
            moment = datetime.fromisoformat(
                text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
            )
        except ValueError:
            raise ValueError(
                f"{text[:40]!r} is neither epoch seconds/milliseconds nor ISO 8601"
            ) from None
    else:
        raise ValueError(f"a {type(raw).__name__} is not a time")
    if moment.tzinfo is None or moment.utcoffset() is None:
        moment = moment.replace(tzinfo=zone)
    try:
        return moment.timestamp()
    except (OverflowError, OSError, ValueError) as err:
        raise ValueError(f"{raw!s:.40} is out of range: {err}") from None


def _epoch(number: float) -> float:
    try:
        value = float(number)
    except OverflowError:
        value = math.inf
    if not math.isfinite(value):
        raise ValueError(f"{number!r:.40} is not a finite number")
    return value / 1000.0 if abs(value) >= MILLISECONDS_FROM else value


class EventClock:
    """One mapping's ``event_time``, compiled: reads the time from a message and applies the
    trust window (``window`` seconds into the past, ``skew`` into the future)."""

    def __init__(self, source: str, *, window: float, skew: float):
        self.source = source
        self.window = window
        self.skew = skew
        self._template = compile_template(source) if is_template(source) else None
        self._path = None if self._template is not None else JsonPath(source)

    def __repr__(self) -> str:
        return f"EventClock({self.source!r})"

    def resolve(
        self,
        text: str,
        topic: str,
        data: Callable[[], Any],
        received_at: float,
        zone: tzinfo,
    ) -> TimeReading:
        """The time to count the message at. ``data()`` gives the parsed JSON, or ``NOT_JSON``
        when the payload isn't JSON; never raises."""
        try:
            at = parse_time(self._raw(text, topic, data), zone)
            if received_at - at > self.window:
                raise _Untrusted(
                    "too_old",
                    f"event time {_show(at, zone)} is more than {self.window:g} s before its "
                    f"receipt (bridge.event_time_window)",
                )
            if at - received_at > self.skew:
                raise _Untrusted(
                    "in_future",
                    f"event time {_show(at, zone)} is more than {self.skew:g} s after its "
                    f"receipt (bridge.event_time_skew)",
                )
            return TimeReading(at)
        except _Untrusted as why:
            detail = f"{why.detail}; counted at its receive time"
            return TimeReading(received_at, why.reason, detail)
        except ValueError as err:
            return TimeReading(
                received_at, "unreadable", f"event_time: {err}; counted at its receive time"
            )
        except Exception as err:  # noqa: BLE001 - a safety net: a payload never breaks ingest
            return TimeReading(
                received_at, "unreadable", f"event_time: {type(err).__name__}: {err}"[:200]
            )

    def _raw(self, text: str, topic: str, data: Callable[[], Any]) -> Any:
        if self._template is not None:
            parsed = data() if self._template.uses_value_json else NOT_JSON
            rendered = (
                self._template.render(text, topic)
                if parsed is NOT_JSON
                else self._template.render(text, topic, parsed)
            )
            if isinstance(rendered, RenderFailure):
                reason = "missing" if rendered.undefined else "unreadable"
                raise _Untrusted(reason, f"event_time template: {rendered.detail}")
            if not rendered:
                raise _Untrusted("missing", "event_time template rendered nothing")
            return rendered
        assert self._path is not None
        parsed = data()
        if parsed is NOT_JSON:
            raise _Untrusted("missing", f"event_time {self._path.text}: the payload is not JSON")
        try:
            value = self._path.get(parsed)
        except LookupError as err:
            raise _Untrusted("missing", f"event_time {self._path.text}: {err}") from None
        if value is None:
            raise _Untrusted("missing", f"event_time {self._path.text} is null")
        return value


def _show(at: float, zone: tzinfo) -> str:
    try:
        return datetime.fromtimestamp(at, zone).isoformat(timespec="seconds")
    except (OverflowError, OSError, ValueError):
        return f"{at:g} (epoch seconds)"


def ordering_time(previous_state: object) -> float | None:
    """The topic's ordering clock: the last *trusted* event time kept in its state (``"at"``),
    or None. A receive time that stood in for an untrusted event time is never kept there, so a
    fallback can't make the topic's later, trusted messages look out of order."""
    at = previous_state.get("at") if isinstance(previous_state, dict) else None
    return float(at) if finite(at) else None


def is_out_of_order(reading: TimeReading, last: float | None) -> bool:
    """Whether a message is older than its topic's last trusted one. An untrusted (fallback)
    time is never out of order: it is the receive time, not the event's."""
    return reading.fallback is None and last is not None and reading.at < last


def stamped(evaluation: Any, reading: TimeReading, last: float | None = None) -> Any:
    """A mapping's ``Evaluation`` timed at ``reading``: its events without a time of their own get
    ``at``, its state (a dict) remembers the ordering clock ``"at"`` (this time when trusted, else
    the previous trusted one, ``last``), and ``time`` says how it was timed."""
    state = evaluation.new_state
    if isinstance(state, dict):
        state = {k: v for k, v in state.items() if k != "at"}
        at = reading.at if reading.fallback is None else last
        if at is not None:
            state["at"] = at
    events = [e if e.at is not None else replace(e, at=reading.at) for e in evaluation.events]
    return replace(
        evaluation,
        event=events[0] if events else None,
        more=tuple(events[1:]),
        new_state=state,
        time=reading,
    )


def summary(counters: dict[str, int]) -> str | None:
    """How ``event_time`` mappings timed their messages, from the outbox's counters, in one
    line (``exist-bridge status``, the status page): ``6 from payloads, too_old: 2``; None when
    no such mapping has seen a message."""
    prefix = "event_time."
    timed = {k[len(prefix) :]: n for k, n in counters.items() if k.startswith(prefix)}
    if not timed:
        return None
    payload = timed.pop("payload", 0)
    return f"{payload} from payloads" + "".join(f", {k}: {n}" for k, n in sorted(timed.items()))
