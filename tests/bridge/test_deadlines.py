"""Flushing by deadline (issue 14), with an injected clock: the outbox's ``due_at``, the
flusher's ``step``/``next_wake``, the request count the client reports, and the config keys."""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from mqtt_bridge.config import parse_config
from mqtt_bridge.pipeline.buffer.outbox import Commit, Effect, Outbox
from mqtt_bridge.pipeline.output.flusher import Flusher
from mqtt_bridge.pipeline.process.mapping import build_mappings

from ..support.fake_exist_writer import FakeExist, classify

UTC = ZoneInfo("UTC")
DAY = "2024-05-01"
T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC).timestamp()  # 08:00 UTC on DAY
MIDNIGHT = datetime(2024, 5, 2, tzinfo=UTC).timestamp()


class Clock:
    def __init__(self, t: float):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def box(tmp_path):
    b = Outbox(tmp_path / "o.sqlite")
    yield b
    b.close()


@pytest.fixture
def clock():
    return Clock(T0)


@pytest.fixture
def exist():
    return FakeExist()


@pytest.fixture
def flusher(box, exist, clock):
    return Flusher(box, exist, "UTC", classify, clock=clock)


def change(box, clock, attr, mode, value, delay, day=DAY):
    """One message's effect received now, with ``delay`` seconds to its deadline."""
    box.commit([Commit(effects=[Effect(attr, day, mode, value, clock() + delay)])])


def updates(exist) -> list[int]:
    return [n for kind, n in exist.requests if kind == "update"]


# ----------------------------------------------------------------------------- the outbox


def test_a_deadline_is_set_when_a_row_first_becomes_pending(box, clock):
    change(box, clock, "coffees", "increment", 1, 300)
    assert box.deadlines() == {DAY: T0 + 300}
    clock.t += 100
    change(box, clock, "coffees", "increment", 1, 300)  # still pending: keeps its deadline
    assert box.deadlines() == {DAY: T0 + 300}
    change(box, clock, "coffees", "increment", 1, 10)  # a shorter delay brings it forward
    assert box.deadlines() == {DAY: T0 + 110}
    assert box.last_due == T0 + 110


def test_a_change_after_a_send_gets_a_fresh_deadline(box, clock):
    change(box, clock, "steps", "update", 100, 3600)
    row = box.pending()[0]
    box.mark_sent(row.attribute, row.date, row.version, row.total)
    assert box.deadlines() == {}
    clock.t += 5000
    change(box, clock, "steps", "update", 200, 3600)
    assert box.deadlines() == {DAY: T0 + 5000 + 3600}  # not the old, long-past deadline


def test_a_change_during_a_flush_sets_its_own_deadline(box, clock):
    change(box, clock, "steps", "update", 100, 3600)
    row = box.pending()[0]
    box.claim()  # the flush sends version 1 ...
    clock.t += 4000
    change(box, clock, "steps", "update", 200, 3600)  # ... while this arrives
    box.mark_sent(row.attribute, row.date, row.version, row.total)
    assert box.deadlines() == {DAY: T0 + 4000 + 3600}


def test_deadlines_stored_under_longer_delays_are_capped_at_start(box, exist, clock):
    change(box, clock, "steps", "update", 100, 3600)  # taken in under total_delay 3600
    stop = threading.Event()

    class Alarm(threading.Event):
        def wait(self, timeout=None):
            stop.set()  # one planning round is enough
            return False

    flusher = Flusher(box, exist, "UTC", classify, clock=clock, alarm=Alarm(), longest=60)
    flusher.run(stop)  # restarted with 60 s delays
    assert box.deadlines() == {DAY: T0 + 60}


def test_a_claimed_row_left_pending_is_due_now(box, clock):
    change(box, clock, "steps", "update", 100, 3600)
    box.claim()  # the send failed: nothing marked sent
    assert box.deadlines() == {DAY: 0}


def test_deadlines_survive_a_restart(tmp_path, clock):
    first = Outbox(tmp_path / "o.sqlite")
    change(first, clock, "steps", "update", 100, 3600)
    first.close()
    again = Outbox(tmp_path / "o.sqlite")
    try:
        assert again.deadlines() == {DAY: T0 + 3600}
    finally:
        again.close()


def test_a_database_from_before_deadlines_is_migrated_and_its_rows_are_due_now(tmp_path):
    path = tmp_path / "o.sqlite"
    old = Outbox(path)
    old.commit([Commit(effects=[Effect("coffees", DAY, "increment", 2)])])
    old.close()
    with sqlite3.connect(path) as db:  # what an older bridge left: no due_at column
        db.execute("ALTER TABLE totals DROP COLUMN due_at")
    box = Outbox(path)
    try:
        assert box.deadlines() == {DAY: 0}
        assert box.pending()[0].events == 1
    finally:
        box.close()


# ----------------------------------------------------------------------------- the flusher


def test_a_burst_rides_one_request(box, exist, clock, flusher):
    exist.values[("button", DAY)] = 0
    for _ in range(25):
        change(box, clock, "button", "increment", 1, 300)
        clock.t += 1
    flusher.step()
    assert exist.requests == []  # not due yet
    assert flusher.next_wake() == T0 + 300
    clock.t = T0 + 300
    flusher.step()
    assert updates(exist) == [1] and exist.values[("button", DAY)] == 25
    assert len(exist.requests) == 2  # the base (increment 0) and the one update


def test_a_lone_reading_waits_for_its_deadline_then_takes_everything_pending(
    box, exist, clock, flusher
):
    change(box, clock, "weight", "update", 72.5, 3600)
    for minutes in (10, 30, 59):
        clock.t = T0 + minutes * 60
        assert flusher.step() == T0 + 3600
    assert exist.requests == []
    clock.t = T0 + 3500
    change(box, clock, "steps", "update", 4000, 3600)  # due at T0 + 7100: not yet
    exist.values[("coffees", DAY)] = 0
    change(box, clock, "coffees", "increment", 1, 300)  # due at T0 + 3800: not yet
    clock.t = T0 + 3600
    flusher.step()
    assert exist.values[("weight", DAY)] == 72.5
    assert exist.values[("steps", DAY)] == 4000 and exist.values[("coffees", DAY)] == 1
    assert updates(exist) == [3]  # one update carried all three
    assert box.pending() == []


def test_a_day_that_ends_sends_its_totals_at_midnight_not_after_the_delay(
    box, exist, clock, flusher
):
    clock.t = MIDNIGHT - 600  # 23:50
    change(box, clock, "steps", "update", 9000, 3600)  # due at 00:50 by its delay
    assert flusher.step() == MIDNIGHT
    clock.t = MIDNIGHT
    flusher.step()
    assert exist.values[("steps", DAY)] == 9000


def test_midnight_resends_yesterdays_finals_without_waiting(box, exist, clock, flusher):
    change(box, clock, "steps", "update", 5000, 3600)
    clock.t = T0 + 3600
    flusher.step()
    assert updates(exist) == [1]
    clock.t = T0 + 7200
    assert flusher.step() == MIDNIGHT  # nothing pending: the next wake-up is midnight
    exist.values[("steps", DAY)] = 0  # lost on the server side
    clock.t = MIDNIGHT + 1
    flusher.step()
    assert exist.values[("steps", DAY)] == 5000 and updates(exist) == [1, 1]
    flusher.step()
    assert updates(exist) == [1, 1]  # once


def test_no_request_and_no_early_wake_up_when_nothing_is_pending(box, exist, clock, flusher):
    for hour in range(0, 16):
        clock.t = T0 + hour * 3600
        assert flusher.step() == MIDNIGHT
    clock.t = MIDNIGHT + 5
    flusher.step()  # a new day with nothing to send
    assert exist.requests == []


def test_a_postponement_holds_every_send_until_it_ends(box, exist, clock, flusher):
    exist.lose.add("update")
    change(box, clock, "steps", "update", 100, 10)
    clock.t += 10
    flusher.step()  # the answer is lost: classify says 30 s
    assert flusher.hold_until == clock.t + 30
    assert flusher.next_wake() == clock.t + 30
    change(box, clock, "coffees", "update", 1, 1)
    clock.t += 5
    n = len(exist.requests)
    flusher.step()
    assert len(exist.requests) == n  # still held
    clock.t += 25
    flusher.step()
    assert exist.values[("coffees", DAY)] == 1 and box.pending() == []


def test_a_row_whose_send_failed_stays_due_when_it_changes_again(box, exist, clock, flusher):
    exist.lose.add("update")
    change(box, clock, "steps", "update", 100, 10)
    clock.t += 10
    flusher.step()  # lost answer: held 30 s, the row still due
    change(box, clock, "steps", "update", 200, 3600)  # a newer total, its own deadline an hour away
    assert flusher.next_due() <= clock.t  # the older change is overdue: it does not wait an hour
    clock.t = flusher.hold_until
    flusher.step()
    assert exist.values[("steps", DAY)] == 200 and box.pending() == []


def test_changes_that_came_due_during_a_long_flush_go_right_after_it(box, exist, clock):
    flusher = Flusher(box, exist, "UTC", classify, clock=clock, retry=60)
    change(box, clock, "steps", "update", 100, 10)
    clock.t += 10

    def slow_exist():  # the request waited out a Retry-After inside the client
        change(box, clock, "coffees", "update", 1, 5)  # arrives during it, due 5 s later
        clock.t += 30

    exist.during_update = slow_exist
    assert flusher.step() <= clock.t  # due already: no retry pause, nothing was refused
    exist.during_update = None
    flusher.step()
    assert exist.values[("coffees", DAY)] == 1


def test_rows_refused_for_now_are_retried_after_a_pause_not_in_a_loop(box, exist, clock):
    flusher = Flusher(box, exist, "UTC", classify, clock=clock, retry=60)
    exist.refuse["steps"] = ("unauthorised", "not yours")
    change(box, clock, "steps", "update", 100, 10)
    clock.t += 10
    assert flusher.step() == clock.t + 60
    del exist.refuse["steps"]
    clock.t += 60
    flusher.step()
    assert exist.values[("steps", DAY)] == 100


def test_the_request_count_is_what_the_client_reports(box, exist, clock, flusher):
    change(box, clock, "steps", "update", 100, 1)
    clock.t += 1
    original = exist.update

    def update(items):
        result = original(items)
        result.requests = 3
        return result

    exist.update = update
    report = flusher.flush_once()
    assert report.requests == 3


def test_notify_wakes_the_loop_only_for_an_earlier_deadline(box, exist, clock, flusher):
    flusher.planned, flusher.planning = T0 + 300, False  # asleep until T0 + 300
    flusher.notify(T0 + 400)
    assert not flusher.alarm.is_set()
    flusher.notify(None)
    assert not flusher.alarm.is_set()
    flusher.notify(T0 + 200)
    assert flusher.alarm.is_set()
    flusher.alarm.clear()
    flusher.planning = True  # re-planning: any new deadline might be the earliest
    flusher.notify(T0 + 400)
    assert flusher.alarm.is_set()


def test_a_clock_that_jumped_past_the_planned_wake_up_wakes_the_loop(box, exist, clock, flusher):
    flusher.planned, flusher.planning = T0 + 300, False
    clock.t = T0 + 86400  # e.g. resumed from suspend: the sleep's real seconds lag behind
    flusher.notify(T0 + 86400 + 300)  # later than planned, but planned is already past
    assert flusher.alarm.is_set()
    flusher.alarm.clear()
    flusher.nudge()  # the heartbeat's check, without any commit
    assert flusher.alarm.is_set()
    flusher.alarm.clear()
    clock.t = T0 + 100
    flusher.nudge()  # not due yet: left asleep
    assert not flusher.alarm.is_set()


def test_the_loop_sleeps_until_the_deadline_then_sends(box, exist, clock):
    waits: list[float] = []
    stop = threading.Event()

    class Alarm(threading.Event):
        """Records each sleep and moves the clock to its end (the last one stops the loop)."""

        def wait(self, timeout=None):
            waits.append(timeout)
            clock.t += timeout
            if len(waits) == 3:
                stop.set()
            return False

    flusher = Flusher(box, exist, "UTC", classify, clock=clock, alarm=Alarm())
    change(box, clock, "steps", "update", 100, 3600)
    flusher.run(stop)
    assert waits[0] == 3600  # asleep until the deadline ...
    assert exist.values[("steps", DAY)] == 100  # ... then sent
    assert waits[1] == MIDNIGHT - (T0 + 3600)  # nothing pending: until midnight ...
    assert updates(exist) == [1, 1]  # ... when the day's final total goes once more
    assert waits[2] == 86400  # and then nothing until the next midnight


# ----------------------------------------------------------------------------- configuration

BASE = """
exist:
  token: abc
bridge:
{bridge}
attributes:
  - template: coffees
  - template: steps
  - template: mood
mappings:
  - topic: a
    attribute: coffees
  - topic: b
    attribute: steps
    mode: update
  - topic: c
    attribute: mood
    mode: update
    max_delay: 60
"""


def test_each_mapping_gets_its_class_delay_or_its_own():
    config = parse_config(BASE.format(bridge="  event_delay: 120\n  total_delay: 1800"))
    assert [m.spec.delay for m in build_mappings(config)] == [120, 1800, 60]
    assert config.warnings == []
    default = parse_config(BASE.format(bridge="  log_level: INFO"))
    assert [m.spec.delay for m in build_mappings(default)] == [300, 3600, 60]


def test_flush_interval_is_taken_as_both_delays_with_a_warning_naming_the_new_keys():
    config = parse_config(BASE.format(bridge="  flush_interval: 60"), "bridge.yaml")
    assert (config.bridge.event_delay, config.bridge.total_delay) == (60, 60)
    [warning] = config.warnings
    assert warning.startswith("bridge.yaml:5: bridge.flush_interval: flush_interval is deprecated")
    assert "bridge.event_delay" in warning and "bridge.total_delay" in warning
    both = parse_config(
        BASE.format(bridge="  flush_interval: 60\n  event_delay: 200\n  total_delay: 900")
    )
    assert (both.bridge.event_delay, both.bridge.total_delay) == (200, 900)
    assert "ignored" in both.warnings[0]


def test_a_delay_out_of_range_is_refused_at_its_key():
    from mqtt_bridge.config import ConfigError

    with pytest.raises(ConfigError) as err:
        text = BASE.format(bridge="  event_delay: 0").replace("max_delay: 60", "max_delay: x")
        parse_config(text)
    text = str(err.value)
    assert "bridge.event_delay" in text and "mappings[2].max_delay" in text
