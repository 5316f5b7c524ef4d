"""Event time (a mapping's ``event_time``): each payload style, the trust window, ordering, the
config keys, and what MessageProcessor counts. The broker end to end: test_event_time_e2e.py."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from mqtt_bridge.config import ConfigError, parse_config
from mqtt_bridge.pipeline.buffer.outbox import Outbox
from mqtt_bridge.pipeline.process.event_time import parse_time
from mqtt_bridge.pipeline.process.mapping import OUT_OF_ORDER, build_mappings
from mqtt_bridge.pipeline.process.processor import IncomingMessage, MessageProcessor

BERLIN = ZoneInfo("Europe/Berlin")
UTC = ZoneInfo("UTC")
# Received at 00:10 on 2024-03-10 in Berlin; the events happened at 23:50 the day before.
RECEIVED = datetime(2024, 3, 10, 0, 10, tzinfo=BERLIN).timestamp()
EVENT = datetime(2024, 3, 9, 23, 50, tzinfo=BERLIN).timestamp()

CONFIG = """
exist: {{token: t, timezone: Europe/Berlin}}
bridge: {{event_time_window: 86400, event_time_skew: 120}}
attributes:
  - {{name: door_opens, label: Door opens, group: custom, value_type: 0}}
  - {{name: energy, label: Energy, group: custom, value_type: 1}}
  - {{name: tv_minutes, label: TV minutes, group: custom, value_type: 3}}
  - {{name: presses, label: Presses, group: custom, value_type: 0}}
mappings:
{body}
"""

ALL = """
  - {topic: "z2m/door", attribute: door_opens, json_path: contact, event_time: last_seen,
     edge: {from: true, to: false}}
  - {topic: "tele/plug/SENSOR", attribute: energy, mode: counter, json_path: ENERGY.Total,
     event_time: Time}
  - {topic: "shelly/tv", attribute: tv_minutes, mode: duration, json_path: params.output,
     event_time: params.ts}
  - {topic: "button/iso", attribute: presses, event_time: "{{ value_json.when }}"}
  - {topic: "button/plain", attribute: presses}
"""


def processor(tmp_path, body: str = ALL) -> MessageProcessor:
    config = parse_config(CONFIG.format(body=body))
    return MessageProcessor(build_mappings(config), "Europe/Berlin", Outbox(tmp_path / "o.sqlite"))


def msg(topic: str, payload, at: float = RECEIVED, mid: int = 1, dup: bool = False):
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return IncomingMessage(topic, data, 1, mid, dup, False, at)


def local(ts: float, zone=BERLIN) -> str:
    return datetime.fromtimestamp(ts, zone).isoformat()


# ------------------------------------------------------------------------------ parse_time


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # zigbee2mqtt last_seen: ISO_8601 (with offset), ISO_8601_local (naive), epoch (ms)
        ("2024-03-09T23:50:00+01:00", EVENT),
        ("2024-03-09T23:50:00", EVENT),
        (int(EVENT * 1000), EVENT),
        # Tasmota Time: naive local ISO 8601
        ("2024-03-09T23:50:00", EVENT),
        # Shelly ts: epoch seconds with a fraction (gen2), or whole (gen1 unixtime)
        (EVENT + 0.25, EVENT + 0.25),
        (int(EVENT), EVENT),
        # ISO 8601 in UTC (Z), with a space, with milliseconds; numeric text
        ("2024-03-09T22:50:00Z", EVENT),
        ("2024-03-09 22:50:00.000+00:00", EVENT),
        (str(int(EVENT)), EVENT),
        (str(int(EVENT * 1000)), EVENT),
    ],
)
def test_each_payload_style_parses_to_the_same_moment(raw, expected):
    assert parse_time(raw, BERLIN) == pytest.approx(expected)


def test_a_naive_time_is_in_the_configured_zone_not_utc():
    assert parse_time("2024-03-09T23:50:00", UTC) == EVENT + 3600


@pytest.mark.parametrize("raw", ["yesterday", "", None, True, {"t": 1}, "NaN", float("inf")])
def test_what_is_not_a_time_is_refused(raw):
    with pytest.raises(ValueError):
        parse_time(raw, BERLIN)


# ------------------------------------------------------------------------------ local date


def test_each_style_counts_on_the_day_it_happened(tmp_path):
    p = processor(tmp_path)
    z2m = [  # an edge true -> false; last_seen in epoch ms (zigbee2mqtt's `epoch`)
        {"contact": True, "last_seen": int((EVENT - 60) * 1000)},
        {"contact": False, "last_seen": int(EVENT * 1000)},
    ]
    tasmota = [
        {"Time": "2024-03-09T23:40:00", "ENERGY": {"Total": 10.5}},
        {"Time": "2024-03-09T23:50:00", "ENERGY": {"Total": 10.75}},
    ]
    shelly = [  # on at 23:30, off at 00:05 (received 00:10): 30 min on the 9th, 5 on the 10th
        {"params": {"output": True, "ts": EVENT - 20 * 60}},
        {"params": {"output": False, "ts": EVENT + 15 * 60}},
    ]
    effects = []
    mid = 10
    devices = (("z2m/door", z2m), ("tele/plug/SENSOR", tasmota), ("shelly/tv", shelly))
    for topic, payloads in devices:
        for payload in payloads:
            mid += 1
            effects += p.process(msg(topic, payload, mid=mid)).effects
    effects += p.process(msg("button/iso", {"when": "2024-03-09T22:50:00Z"}, mid=40)).effects
    effects += p.process(msg("button/plain", b"x", mid=41)).effects
    got = [(e.attribute, e.date, e.value) for e in effects]
    assert got == [
        ("door_opens", "2024-03-09", 1),
        ("energy", "2024-03-09", 0.25),
        ("tv_minutes", "2024-03-09", 30),
        ("tv_minutes", "2024-03-10", 5),
        ("presses", "2024-03-09", 1),
        ("presses", "2024-03-10", 1),  # no event_time: the receive date
    ]


def test_a_redelivered_message_keeps_its_own_day(tmp_path):
    p = processor(tmp_path)
    payload = {"when": "2024-03-09T23:50:00+01:00"}
    first = p.process(msg("button/iso", payload, mid=7))
    # Not recognised as a redelivery (another session, a later day): it still has its own day.
    later = p.process(msg("button/iso", payload, at=RECEIVED + 3 * 3600, mid=8, dup=True))
    assert [e.date for e in first.effects + later.effects] == ["2024-03-09", "2024-03-09"]


# ------------------------------------------------------------------------------ trust


@pytest.mark.parametrize(
    ("when", "reason"),
    [
        ({"when": RECEIVED - 86400 - 1}, "too_old"),  # beyond event_time_window (1 day)
        ({"when": 5}, "too_old"),  # a device clock not set yet (1970)
        ({"when": RECEIVED + 121}, "in_future"),  # beyond event_time_skew (120 s)
        ({"other": 1}, "missing"),
        ({"when": "soon"}, "unreadable"),
        (b"not json", "missing"),
    ],
)
def test_an_untrusted_time_falls_back_to_the_receive_time_counted_and_logged(
    tmp_path, caplog, when, reason
):
    p = processor(tmp_path)
    with caplog.at_level(logging.WARNING, logger="exist_bridge.ingest"):
        commit = p.process(msg("button/iso", when))
    assert [(e.date, e.value) for e in commit.effects] == [("2024-03-10", 1)]  # counted, today
    assert commit.counters[f"event_time.{reason}"] == 1
    assert "event_time.payload" not in commit.counters
    assert commit.dead == []  # not a dead letter: the event is real
    assert any(f"event_time_{reason}" in r.getMessage() for r in caplog.records)
    p.process(msg("button/iso", when, mid=2))
    assert sum(f"event_time_{reason}" in r.getMessage() for r in caplog.records) == 1  # once


def test_inside_the_window_is_trusted(tmp_path):
    p = processor(tmp_path)
    old = p.process(msg("button/iso", {"when": RECEIVED - 86400 + 5}))
    ahead = p.process(msg("button/iso", {"when": RECEIVED + 119}, mid=2))
    assert [e.date for e in old.effects] == ["2024-03-09"]
    assert [e.date for e in ahead.effects] == ["2024-03-10"]
    assert old.counters["event_time.payload"] == ahead.counters["event_time.payload"] == 1


# ------------------------------------------------------------------------------ ordering


def test_a_late_older_message_does_not_rewind_an_edge(tmp_path):
    p = processor(tmp_path)
    door = "z2m/door"
    p.process(msg(door, {"contact": True, "last_seen": EVENT - 120}, mid=1))
    opened = p.process(msg(door, {"contact": False, "last_seen": EVENT}, mid=2))
    late = p.process(msg(door, {"contact": True, "last_seen": EVENT - 60}, mid=3))  # stale
    again = p.process(msg(door, {"contact": False, "last_seen": EVENT + 60}, mid=4))
    assert len(opened.effects) == 1
    assert late.effects == [] and late.counters["event_time.out_of_order"] == 1
    assert again.effects == []  # still closed: the stale "true" did not make a new edge


def test_a_late_lower_meter_reading_is_not_a_reset(tmp_path):
    p = processor(tmp_path)
    t = "tele/plug/SENSOR"
    p.process(msg(t, {"Time": "2024-03-09T23:00:00", "ENERGY": {"Total": 10}}, mid=1))
    p.process(msg(t, {"Time": "2024-03-09T23:20:00", "ENERGY": {"Total": 12}}, mid=2))
    late = p.process(msg(t, {"Time": "2024-03-09T23:10:00", "ENERGY": {"Total": 11}}, mid=3))
    last = p.process(msg(t, {"Time": "2024-03-09T23:30:00", "ENERGY": {"Total": 13}}, mid=4))
    assert late.effects == []  # without event time this would be a reset adding 11
    assert [e.value for e in last.effects] == [1]


def test_mapping_reports_out_of_order_as_a_skip(tmp_path):
    body = """
  - {topic: "z2m/door", attribute: door_opens, json_path: contact, event_time: last_seen,
     edge: {from: true, to: false}}
"""
    [m] = build_mappings(parse_config(CONFIG.format(body=body)))
    first = b'{"contact": true, "last_seen": 200}'
    state = m.evaluate("z2m/door", first, False, None, received_at=300).new_state
    assert state["at"] == 200
    stale = b'{"contact": false, "last_seen": 100}'
    late = m.evaluate("z2m/door", stale, False, state, received_at=300)
    assert late.skipped == OUT_OF_ORDER and late.new_state == state


# ------------------------------------------------------------------------------ config


def test_config_keys_are_checked_with_their_line():
    bad = CONFIG.format(body='  - {topic: a, attribute: presses, event_time: "a..b"}')
    with pytest.raises(ConfigError) as err:
        parse_config(bad)
    assert "mappings[0].event_time" in str(err.value)
    bad = CONFIG.format(body='  - {topic: a, attribute: presses, event_time: "{{ nope }}"}')
    with pytest.raises(ConfigError, match="event_time"):
        parse_config(bad)
    window = (
        "exist: {token: t}\nbridge: {event_time_window: 1}\nmappings: [{topic: a, attribute: b}]"
    )
    with pytest.raises(ConfigError, match="event_time_window"):
        parse_config(window)


def test_defaults_are_a_week_back_and_five_minutes_ahead():
    config = parse_config("exist: {token: t}\nmappings: [{topic: a, attribute: b, event_time: ts}]")
    assert config.bridge.event_time_window == 7 * 86400
    assert config.bridge.event_time_skew == 300
    assert config.mappings[0].event_time == "ts"
