"""MessageProcessor: redeliveries, local dates, bad input logged once per kind and topic."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from mqtt_bridge.config import parse_config
from mqtt_bridge.pipeline.buffer.outbox import Outbox
from mqtt_bridge.pipeline.process.mapping import build_mappings
from mqtt_bridge.pipeline.process.processor import IncomingMessage, MessageProcessor

CONFIG = """
exist: {token: t}
mappings:
  - {topic: "door/+", attribute: fridge_opens, json_path: contact, edge: {from: true, to: false}}
  - {topic: "button", attribute: coffees}
"""


@pytest.fixture
def processor(tmp_path):
    box = Outbox(tmp_path / "o.sqlite")
    yield MessageProcessor(build_mappings(parse_config(CONFIG)), "Europe/Berlin", box)
    box.close()


def msg(topic, payload, mid=1, dup=False, qos=1, at=1_700_000_000.0, retain=False):
    return IncomingMessage(topic, payload, qos, mid, dup, retain, at)


def test_a_redelivery_of_a_message_taken_in_is_recognised(processor):
    first = processor.process(msg("button", b"x", mid=5))
    assert [e.value for e in first.effects] == [1] and first.mid == 5
    again = processor.process(msg("button", b"x", mid=5, dup=True))
    assert again.effects == [] and again.counters == {"duplicates_ignored": 1}
    assert again.mid == 0  # nothing to remember; the caller still acks it


def test_dup_flag_with_other_content_is_a_new_message(processor):
    processor.process(msg("button", b"x", mid=5))
    other = processor.process(msg("button", b"y", mid=5, dup=True))  # id reused after an ack
    assert len(other.effects) == 1


def test_qos0_messages_are_never_treated_as_redeliveries(processor):
    processor.process(msg("button", b"x", mid=0, qos=0))
    again = processor.process(msg("button", b"x", mid=0, qos=0, dup=True))
    assert len(again.effects) == 1 and again.mid == 0


def test_the_date_is_the_users_local_date_at_receipt(processor):
    late = datetime(2024, 6, 30, 23, 30, tzinfo=ZoneInfo("Europe/Berlin")).timestamp()
    commit = processor.process(msg("button", b"x", at=late))
    assert commit.effects[0].date == "2024-06-30"
    commit = processor.process(msg("button", b"x", mid=2, at=late + 3600))
    assert commit.effects[0].date == "2024-07-01"


def test_edge_state_travels_with_the_commit(processor):
    processor.process(msg("door/a", b'{"contact": true}', mid=1))
    commit = processor.process(msg("door/a", b'{"contact": false}', mid=2))
    assert commit.states == {
        processor.mappings[0].state_key("door/a"): {"last": False}
    }  # committed with the effect
    assert len(commit.effects) == 1


def test_bad_input_is_logged_once_per_kind_and_topic(processor, caplog):
    caplog.set_level(logging.WARNING, logger="exist_bridge.ingest")
    for i in range(50):
        commit = processor.process(msg("door/a", b"garbage", mid=i + 1))
        assert commit.dead and commit.counters["bad_input.not_json"] == 1
    processor.process(msg("door/b", b"garbage", mid=99))
    warnings = [r for r in caplog.records if "not_json" in r.getMessage()]
    assert [("door/a" in w.getMessage(), "door/b" in w.getMessage()) for w in warnings] == [
        (True, False),
        (False, True),
    ]


# ----------------------------------------------------------------------------- counter, duration

METERS = """
exist: {token: t}
attributes:
  - {name: energy_kwh, label: Energy kwh, group: custom, value_type: 1}
  - {name: office_minutes, label: Office minutes, group: custom, value_type: 3}
mappings:
  - {topic: "tele/+/SENSOR", attribute: energy_kwh, mode: counter, json_path: ENERGY.Total}
  - {topic: "office/occupancy", attribute: office_minutes, mode: duration, json_path: occupancy}
"""
BERLIN = ZoneInfo("Europe/Berlin")


def local(*args) -> float:
    return datetime(*args, tzinfo=BERLIN).timestamp()


class Meters:
    """A processor over a real outbox that commits what it processes, and can be restarted."""

    def __init__(self, path):
        self.path = path
        self.mid = 0
        self.start()

    def start(self) -> None:
        self.box = Outbox(self.path)
        self.processor = MessageProcessor(
            build_mappings(parse_config(METERS)), "Europe/Berlin", self.box
        )

    def restart(self) -> None:
        self.box.close()
        self.start()

    def send(self, topic: str, payload: bytes, at: float, retain: bool = False):
        self.mid += 1
        commit = self.processor.process(msg(topic, payload, mid=self.mid, at=at, retain=retain))
        self.box.commit([commit])
        return commit


@pytest.fixture
def meters(tmp_path):
    m = Meters(tmp_path / "o.sqlite")
    yield m
    m.box.close()


def test_counter_state_survives_a_restart(meters):
    at = local(2024, 5, 6, 10, 0)
    assert meters.send("tele/plug/SENSOR", b'{"ENERGY": {"Total": 12.5}}', at).effects == []
    commit = meters.send("tele/plug/SENSOR", b'{"ENERGY": {"Total": 12.75}}', at + 300)
    assert commit.states == {
        meters.processor.mappings[0].state_key("tele/plug/SENSOR"): {"reading": 12.75, "carry": 0.0}
    }
    meters.restart()  # the state comes back from the outbox: the next reading is a delta
    commit = meters.send("tele/plug/SENSOR", b'{"ENERGY": {"Total": 13.1}}', at + 600)
    assert [(e.attribute, e.date, e.mode, e.value) for e in commit.effects] == [
        ("energy_kwh", "2024-05-06", "increment", 0.35)
    ]
    for total in (13.2, 13.3, 13.4):  # decimal sums are stored without float noise
        meters.send("tele/plug/SENSOR", json.dumps({"ENERGY": {"Total": total}}).encode(), at)
    assert meters.box.totals() == {("energy_kwh", "2024-05-06"): 0.9}


def test_duration_state_survives_a_restart(meters):
    on = local(2024, 5, 6, 9, 0)
    commit = meters.send("office/occupancy", b'{"occupancy": true}', on)
    assert commit.effects == [] and commit.counters["skipped"] == 1
    meters.restart()
    commit = meters.send("office/occupancy", b'{"occupancy": false}', on + 25 * 60 + 30)
    assert [(e.date, e.value) for e in commit.effects] == [("2024-05-06", 25)]
    assert commit.states == {
        meters.processor.mappings[1].state_key("office/occupancy"): {
            "on": False,
            "since": None,
            "carry": 30.0,
        }
    }
    meters.restart()
    meters.send("office/occupancy", b'{"occupancy": true}', on + 3600)
    commit = meters.send("office/occupancy", b'{"occupancy": false}', on + 3600 + 30)
    assert [e.value for e in commit.effects] == [1]  # 30 s carried over the restart + 30 s
    assert meters.box.totals() == {("office_minutes", "2024-05-06"): 26}


def test_a_duration_across_local_midnight_lands_on_both_dates(meters):
    meters.send("office/occupancy", b'{"occupancy": true}', local(2024, 5, 6, 23, 15))
    commit = meters.send("office/occupancy", b'{"occupancy": false}', local(2024, 5, 7, 1, 5))
    assert [(e.date, e.value) for e in commit.effects] == [("2024-05-06", 45), ("2024-05-07", 65)]
    assert commit.counters["events"] == 2
    assert meters.box.totals() == {
        ("office_minutes", "2024-05-06"): 45,
        ("office_minutes", "2024-05-07"): 65,
    }


def test_the_duration_clock_is_the_receive_time_not_the_processing_time(meters):
    on = local(2024, 1, 15, 8, 0)
    meters.send("office/occupancy", b'{"occupancy": true}', on)
    commit = meters.send("office/occupancy", b'{"occupancy": false}', on + 7 * 60)
    assert [(e.date, e.value) for e in commit.effects] == [("2024-01-15", 7)]


def test_bad_meter_readings_are_dead_letters_and_keep_the_state(meters):
    at = local(2024, 5, 6, 10, 0)
    meters.send("tele/plug/SENSOR", b'{"ENERGY": {"Total": 5}}', at)
    commit = meters.send("tele/plug/SENSOR", b'{"ENERGY": {"Total": "n/a"}}', at + 1)
    assert commit.effects == [] and commit.counters["bad_input.not_a_number"] == 1
    assert [kind for kind, _, _ in commit.dead] == ["not_a_number"]
    commit = meters.send("tele/plug/SENSOR", b'{"ENERGY": {"Total": 6}}', at + 2)
    assert [e.value for e in commit.effects] == [1]


def test_routes_are_remembered_per_topic_and_forgotten_when_the_mappings_change(tmp_path):
    from mqtt_bridge.config import parse_config
    from mqtt_bridge.pipeline.process import processor as ingest
    from mqtt_bridge.pipeline.process.mapping import build_mappings

    text = (
        "exist: {token: abc, timezone: UTC}\nattributes: [{template: coffees}, {template: steps}]\n"
        "mappings:\n  - {topic: 'b/+', attribute: coffees}\n"
    )
    box = Outbox(tmp_path / "o.sqlite")
    proc = ingest.MessageProcessor(build_mappings(parse_config(text)), "UTC", box)
    assert [m.attribute for m in proc._route("b/1")] == ["coffees"]
    assert proc._route("b/1") is proc._route("b/1")  # memoised
    proc.mappings = build_mappings(
        parse_config(text + "  - {topic: 'b/1', attribute: steps, mode: update}\n")
    )
    assert [m.attribute for m in proc._route("b/1")] == ["coffees", "steps"]
    for i in range(ingest.ROUTE_CACHE + 10):  # a flood of topics stays bounded
        proc._route(f"b/{i}")
    assert len(proc._routing[1]) <= ingest.ROUTE_CACHE
    box.close()
