"""Event time in a backlog (issue 17's review): a message whose time is not trusted (too old,
missing, garbage) falls back to its receive time, and that fallback must never become the
ordering reference that makes the topic's later, trusted messages "out of order" (they were all
dropped). Through MessageProcessor, for edge, counter and duration; the broker end to end is in
test_event_time_backlog_e2e.py."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from mqtt_bridge.config import parse_config
from mqtt_bridge.pipeline.buffer.outbox import Outbox
from mqtt_bridge.pipeline.process.mapping import build_mappings
from mqtt_bridge.pipeline.process.processor import IncomingMessage, MessageProcessor

from ..support.days import day_of

DAY = 86400.0
RECEIVED = datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc).timestamp()  # the backlog arrives

CONFIG = """
exist: {token: t, timezone: UTC}
attributes:
  - {name: door_opens, label: Door opens, group: custom, value_type: 0}
  - {name: energy, label: Energy, group: custom, value_type: 1}
  - {name: tv_minutes, label: TV minutes, group: custom, value_type: 3}
mappings:
  - {topic: door, attribute: door_opens, json_path: v, event_time: t, edge: {from: true, to: false}}
  - {topic: meter, attribute: energy, mode: counter, json_path: v, event_time: t}
  - {topic: tv, attribute: tv_minutes, mode: duration, json_path: v, event_time: t}
"""


class Run:
    """A processor fed one topic's messages in order, all received at ``RECEIVED`` (a backlog
    delivered at once); sums what it committed."""

    def __init__(self, tmp_path):
        config = parse_config(CONFIG)
        outbox = Outbox(tmp_path / "o.sqlite")
        self.p = MessageProcessor(build_mappings(config), "UTC", outbox)
        self.totals: dict[str, float] = {}
        self.counters: dict[str, int] = {}
        self.mid = 0

    def send(self, topic: str, value, t=None, received: float = RECEIVED) -> None:
        payload = {"v": value} if t is None else {"v": value, "t": t}
        self.mid += 1
        data = json.dumps(payload).encode()
        commit = self.p.process(IncomingMessage(topic, data, 1, self.mid, False, False, received))
        for e in commit.effects:
            self.totals[e.date] = self.totals.get(e.date, 0) + e.value
        for k, n in commit.counters.items():
            self.counters[k] = self.counters.get(k, 0) + n


TODAY = day_of(RECEIVED)


def ago(days: float) -> float:
    return RECEIVED - days * DAY


# ------------------------------------------------------------------------------ edge


def test_edge_backlog_after_a_too_old_pair_keeps_every_trusted_pair(tmp_path):
    run = Run(tmp_path)
    for days in (8, 6, 5, 4):  # 8 days: beyond the default 7-day window
        run.send("door", True, ago(days) - 60)
        run.send("door", False, ago(days))
    # the 8-day-old pair counts at its receipt (the documented fallback), the rest on their days
    assert run.totals == {TODAY: 1, day_of(ago(6)): 1, day_of(ago(5)): 1, day_of(ago(4)): 1}
    assert run.counters["event_time.too_old"] == 2
    assert run.counters["event_time.payload"] == 6
    assert "event_time.out_of_order" not in run.counters
    assert run.counters["events"] == 4


def test_edge_backlog_with_a_missing_and_a_garbage_time_keeps_the_rest(tmp_path):
    run = Run(tmp_path)
    run.send("door", True, ago(6) - 60)
    run.send("door", False, ago(6))
    run.send("door", True)  # no time at all
    run.send("door", False, ago(5))  # a trusted edge from the untrusted "true"
    run.send("door", True, "garbage")
    run.send("door", False, "not a time either")  # an edge timed at its receipt
    run.send("door", True, ago(4) - 60)
    run.send("door", False, ago(4))
    assert run.totals == {day_of(ago(6)): 1, day_of(ago(5)): 1, TODAY: 1, day_of(ago(4)): 1}
    assert run.counters["event_time.missing"] == 1
    assert run.counters["event_time.unreadable"] == 2
    assert "event_time.out_of_order" not in run.counters


def test_a_trusted_message_older_than_the_last_trusted_one_is_still_out_of_order(tmp_path):
    # the ordering clock is the last *trusted* time: a fallback between doesn't reset it
    run = Run(tmp_path)
    run.send("door", True, ago(3) - 60)
    run.send("door", False, ago(3))
    run.send("door", True, "garbage")
    run.send("door", False, ago(4))  # older than the last trusted message: stale
    assert run.totals == {day_of(ago(3)): 1}
    assert run.counters["event_time.out_of_order"] == 1


# ------------------------------------------------------------------------------ counter


def test_counter_backlog_after_untrusted_readings_counts_the_trusted_increases(tmp_path):
    run = Run(tmp_path)
    run.send("meter", 100, ago(8))  # too old: the baseline, at its receipt
    run.send("meter", 110, ago(6))  # +10 on its day (out of order before the fix)
    run.send("meter", 115, "garbage")  # +5 at its receipt
    run.send("meter", 120, ago(5))  # +5 on its day
    run.send("meter", 130)  # missing: +10 at its receipt
    run.send("meter", 131.5, ago(4))  # +1.5 on its day
    assert run.totals == {day_of(ago(6)): 10, TODAY: 15, day_of(ago(5)): 5, day_of(ago(4)): 1.5}
    assert "event_time.out_of_order" not in run.counters
    assert run.counters["event_time.payload"] == 3


# ------------------------------------------------------------------------------ duration


def test_duration_backlog_after_a_too_old_period_counts_the_trusted_periods(tmp_path):
    run = Run(tmp_path)
    for days in (8, 6, 5, 4):  # on for 30 minutes each day
        run.send("tv", True, ago(days) - 1800)
        run.send("tv", False, ago(days))
    # the 8-day-old period has both ends at the same receipt: no minutes, never negative
    assert run.totals == {day_of(ago(6)): 30, day_of(ago(5)): 30, day_of(ago(4)): 30}
    assert "event_time.out_of_order" not in run.counters
    assert run.counters["event_time.too_old"] == 2


def test_duration_period_with_an_untrusted_end_is_dropped_not_stretched_to_the_receipt(tmp_path):
    run = Run(tmp_path)
    run.send("tv", True, ago(6) - 1800)
    run.send("tv", False, "garbage")  # at its receipt: 6 days of "on" if it were counted
    run.send("tv", True, ago(5) - 1800)
    run.send("tv", False, ago(5))
    assert run.totals == {day_of(ago(5)): 30}
    assert run.counters["event_time.period_dropped"] == 1
    assert "event_time.out_of_order" not in run.counters


def test_duration_period_with_an_untrusted_start_is_dropped_never_negative(tmp_path):
    run = Run(tmp_path)
    run.send("tv", True)  # missing: the clock would start at the receipt (today, 12:00)
    run.send("tv", False, ago(5))  # trusted, 5 days before that start
    run.send("tv", True, ago(4) - 1800)
    run.send("tv", False, ago(4))
    assert run.totals == {day_of(ago(4)): 30}
    assert all(v > 0 for v in run.totals.values())
    assert run.counters["event_time.period_dropped"] == 1


def test_duration_with_every_time_untrusted_is_timed_by_receipt_as_without_event_time(tmp_path):
    # a device whose clock is not set yet (1970): live periods still count, by receive time
    run = Run(tmp_path)
    run.send("tv", True, 5, received=RECEIVED)
    run.send("tv", False, 7, received=RECEIVED + 600)
    assert run.totals == {TODAY: 10}
    assert run.counters["event_time.too_old"] == 2
    assert "event_time.period_dropped" not in run.counters
