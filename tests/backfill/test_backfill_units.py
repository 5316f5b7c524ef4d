"""The backfill's pieces on their own: entity arguments, CSV errors, the replay's modes, the plan,
the progress file and the budget estimate, Home Assistant's answers (with ``responses``)."""

from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import responses

from mqtt_bridge.backfill.plan import parse_entity
from mqtt_bridge.backfill.replay import adhoc_mapping, replay
from mqtt_bridge.backfill.send import Progress, budget_eta, duration_text, make_plan
from mqtt_bridge.backfill.sources import (
    HomeAssistantHistory,
    Record,
    SourceError,
    entity_topic,
    read_csv,
)

ZONE = ZoneInfo("Europe/Berlin")


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZONE).timestamp()


def test_entity_arguments():
    assert parse_entity("sensor.steps") == ("sensor.steps", None, None)
    assert parse_entity("sensor.e=energy:Counter") == ("sensor.e", "energy", "counter")
    assert parse_entity("sensor.w=weight") == ("sensor.w", "weight", "update")
    with pytest.raises(ValueError, match="no attribute"):
        parse_entity("sensor.w=")
    with pytest.raises(ValueError, match="mode must be one of"):
        adhoc_mapping(0, "sensor.w", "weight", "sum")


def test_entities_become_topics():
    assert entity_topic("sensor.phone_steps", set(), "homeassistant") == (
        "homeassistant/sensor/phone_steps/state"
    )
    assert entity_topic("sensor.w", {"sensor.w"}, "ha") == "sensor.w"  # ad-hoc: its own id
    assert entity_topic("zigbee2mqtt/door", set(), "ha") == "zigbee2mqtt/door"  # a topic


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("date,attribute,value\n2024-13-01,steps,1\n", ":2: '2024-13-01' is not a date"),
        ("date,attribute,value\n2024-01-01,steps\n", ":2: expected 3 columns, got 2"),
        ("timestamp,entity,state\n\nsoon,sensor.x,1\n", ":3: 'soon' is neither"),
        ("", ": empty file"),
    ],
)
def test_csv_problems_name_the_line(tmp_path, text, message):
    path = tmp_path / "h.csv"
    path.write_text(text)
    with pytest.raises(SourceError) as err:
        read_csv(path, ZONE, lambda e: e)
    assert str(err.value).startswith(str(path)) and message in str(err.value)


def test_the_replay_uses_the_modes_as_live():
    energy = adhoc_mapping(0, "sensor.energy", "energy", "counter")
    tv = adhoc_mapping(1, "binary_sensor.tv", "tv", "duration")
    steps = adhoc_mapping(2, "sensor.steps", "steps", "update")
    door = adhoc_mapping(3, "binary_sensor.door", "door", "increment")
    records = [
        Record(at("2024-03-01T00:00:00"), "sensor.energy", "100.0", snapshot=True),  # baseline
        Record(at("2024-03-01T00:00:00"), "binary_sensor.door", "off", snapshot=True),
        Record(at("2024-03-01T08:00:00"), "binary_sensor.door", "on"),
        Record(at("2024-03-01T08:01:00"), "binary_sensor.door", "off"),
        Record(at("2024-03-01T08:02:00"), "binary_sensor.door", "on"),
        Record(at("2024-03-01T12:00:00"), "sensor.energy", "101.5"),
        Record(at("2024-03-01T20:00:00"), "sensor.steps", "4000"),
        Record(at("2024-03-01T22:00:00"), "sensor.steps", "5000"),
        Record(at("2024-03-01T23:30:00"), "binary_sensor.tv", "on"),
        Record(at("2024-03-02T00:45:00"), "binary_sensor.tv", "off"),
        Record(at("2024-03-02T09:00:00"), "sensor.steps", "unavailable"),  # skipped, as live
        Record(at("2024-03-02T12:00:00"), "sensor.energy", "102.0"),
        Record(at("2024-03-02T13:00:00"), "sensor.other", "1"),  # on no mapping
    ]
    totals = replay(
        records, [energy, tv, steps, door], "Europe/Berlin", date(2024, 3, 1), date(2024, 3, 2)
    )
    assert totals.values == {
        ("energy", "2024-03-01"): 1.5,
        ("door", "2024-03-01"): 2,
        ("steps", "2024-03-01"): 5000,
        ("tv", "2024-03-01"): 30,
        ("tv", "2024-03-02"): 45,
        ("energy", "2024-03-02"): 0.5,
    }
    assert totals.rejected == {} and totals.unmatched == 1  # unavailable: no reading, no bad input


def test_the_plan_leaves_out_live_days_and_what_was_confirmed(tmp_path):
    progress = Progress(tmp_path, "account-1")
    progress.record([{"name": "steps", "date": "2024-01-01", "value": 10}])
    values = {
        ("steps", "2024-01-01"): 10,
        ("steps", "2024-01-02"): 20,
        ("steps", "2024-01-03"): 30,
        ("weight", "2024-01-01"): 70.5,
    }
    plan = make_plan(values, Progress(tmp_path, "account-1"), {("steps", "2024-01-03")})
    assert [(i["name"], i["date"]) for i in plan.items] == [
        ("weight", "2024-01-01"),
        ("steps", "2024-01-02"),
    ]
    assert plan.done == 1 and plan.live == [("steps", "2024-01-03")] and plan.requests == 1
    changed = make_plan({("steps", "2024-01-01"): 11}, Progress(tmp_path, "account-1"), set())
    assert len(changed.items) == 1  # a different total is sent again
    other = make_plan(values, Progress(tmp_path, "account-2"), set(), overwrite=True)
    assert len(other.items) == 4  # another account starts afresh; overwrite keeps live days


def test_the_budget_estimate():
    assert budget_eta(10, 10, 280) == 0
    assert budget_eta(53, 20, 20) == 2 * 3600
    assert budget_eta(300, 0, 280) == 2 * 3600
    assert duration_text(0) == "now" and duration_text(61) == "2 min"
    assert duration_text(3600 * 2 + 60) == "2 h 1 min"


@responses.activate
@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (401, "", "refused the token (401)"),
        (500, "", "answered 500 to /api/history/period/"),
        (200, "<html>", "the history answer is not JSON"),
        (200, '{"a": 1}', "not a list of lists"),
    ],
)
def test_home_assistant_answers_that_are_not_history(status, body, message):
    responses.get(
        "http://ha.local:8123/api/history/period/2024-01-01T00%3A00%3A00%2B01%3A00",
        status=status,
        body=body,
    )
    ha = HomeAssistantHistory("http://ha.local:8123/", "t")
    with pytest.raises(SourceError, match=re.escape(message)):
        list(
            ha.records(
                ["sensor.a"], date(2024, 1, 1), date(2024, 1, 2), ZONE, {"sensor.a": "sensor.a"}
            )
        )
