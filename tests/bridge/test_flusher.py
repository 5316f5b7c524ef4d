"""The flusher against an in-memory Exist double: bases, totals, refusals, unknown outcomes."""

from __future__ import annotations

import pytest

from mqtt_bridge.pipeline.buffer.outbox import Commit, Effect, Outbox
from mqtt_bridge.pipeline.output.flusher import Flusher

from ..support.fake_exist_writer import FakeExist, classify


@pytest.fixture
def box(tmp_path):
    b = Outbox(tmp_path / "o.sqlite")
    yield b
    b.close()


@pytest.fixture
def exist():
    return FakeExist()


@pytest.fixture
def flusher(box, exist):
    return Flusher(box, exist, "UTC", classify)


def events(box, attr, day, n, value=1):
    box.commit([Commit(effects=[Effect(attr, day, "increment", value)]) for _ in range(n)])


def test_learns_the_base_then_sends_base_plus_delta(box, exist, flusher):
    exist.values[("coffees", "2024-01-01")] = 5  # already there before the bridge
    events(box, "coffees", "2024-01-01", 3)
    report = flusher.flush_once()
    assert exist.values[("coffees", "2024-01-01")] == 8
    assert exist.requests == [("increment", 1), ("update", 1)]
    assert (report.bases_learned, report.sent, report.left_pending) == (1, 1, 0)
    assert flusher.flush_once().requests == 0  # nothing changed: no request
    events(box, "coffees", "2024-01-01", 2)
    flusher.flush_once()
    assert exist.values[("coffees", "2024-01-01")] == 10
    assert exist.requests[-1] == ("update", 1)  # base already known: update only


def test_many_rows_are_one_batch_per_kind(box, exist, flusher):
    for i in range(12):
        events(box, f"attr{i}", "2024-01-01", 100)
    box.commit([Commit(effects=[Effect("steps", "2024-01-01", "update", 9000)])])
    report = flusher.flush_once()
    assert exist.requests == [("increment", 12), ("update", 13)]
    assert report.requests == 2 and exist.values[("attr3", "2024-01-01")] == 100


def test_a_lost_response_is_resent_and_never_counted_twice(box, exist, flusher):
    events(box, "coffees", "2024-01-01", 3)
    exist.lose.add("increment")  # the increment-0 lands, the answer is lost
    assert flusher.flush_once().postponed.reason == "no answer"
    exist.lose.add("update")  # this time the update lands and its answer is lost
    assert flusher.flush_once().postponed is not None
    assert exist.values[("coffees", "2024-01-01")] == 3
    assert flusher.flush_once().left_pending == 0
    assert exist.values[("coffees", "2024-01-01")] == 3


def test_events_arriving_during_a_write_are_sent_next_time(box, exist, flusher):
    events(box, "coffees", "2024-01-01", 1)
    exist.during_update = lambda: events(box, "coffees", "2024-01-01", 1)
    flusher.flush_once()
    exist.during_update = None
    assert exist.values[("coffees", "2024-01-01")] == 1
    assert flusher.flush_once().sent == 1
    assert exist.values[("coffees", "2024-01-01")] == 2


def test_permanent_refusals_are_parked_others_retried(box, exist, flusher):
    events(box, "mood", "2024-01-01", 1)
    events(box, "coffees", "2024-01-01", 1)
    exist.refuse["mood"] = ("validation", "Cannot increment an attribute of this value type")
    report = flusher.flush_once()
    assert report.parked == 1 and exist.values[("coffees", "2024-01-01")] == 1
    assert box.status()["refused"][0]["code"] == "validation"
    assert box.pending() == []
    events(box, "steps", "2024-01-01", 1)
    exist.refuse["steps"] = ("unauthorised", "Attribute 'steps' does not belong to this service")
    assert flusher.flush_once().left_pending == 1
    del exist.refuse["steps"]
    flusher.flush_once()
    assert exist.values[("steps", "2024-01-01")] == 1 and box.pending() == []


def test_after_midnight_yesterdays_totals_are_sent_once_more(box, exist, flusher, monkeypatch):
    monkeypatch.setattr(flusher, "today", lambda: "2024-01-01")
    events(box, "coffees", "2024-01-01", 2)
    flusher.flush_once()
    monkeypatch.setattr(flusher, "today", lambda: "2024-01-02")
    exist.values[("coffees", "2024-01-01")] = 0  # pretend it was lost on the server side
    flusher.flush_once()
    assert exist.values[("coffees", "2024-01-01")] == 2
    before = len(exist.requests)
    flusher.flush_once()
    assert len(exist.requests) == before  # only once


def test_the_day_comes_from_the_bridges_clock_in_the_users_zone(box, exist):
    now = [1704153600.0]  # 2024-01-02 00:00 UTC: still 2024-01-01 in New York
    flusher = Flusher(box, exist, "America/New_York", classify, clock=lambda: now[0])
    assert flusher.today() == "2024-01-01"
    now[0] += 6 * 3600
    assert flusher.today() == "2024-01-02"
