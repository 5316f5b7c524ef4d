"""The bridge end to end: a real mosquitto, the mock over real HTTP, the bridge in-process.

Messages are published with paho at QoS 1; the tests wait until the bridge has committed them,
run one flush, and compare what landed in the mock with what was published.
"""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from mqtt_bridge.config import parse_config
from mqtt_bridge.service import Bridge

from ..support.bridge import start_bridge
from ..support.config import Env, bridge_config
from ..support.days import today
from ..support.mqtt import Publisher
from ..support.waiting import wait_until

pytestmark = pytest.mark.slow  # mosquitto, subprocesses or seconds of work: see pyproject

ATTRIBUTES = [
    {"name": "fridge_opens", "label": "Fridge opens", "group": "food", "value_type": 0},
    {"template": "steps"},
]
MAPPINGS = [
    {
        "topic": "zigbee2mqtt/+/fridge",
        "attribute": "fridge_opens",
        "json_path": "contact",
        "edge": {"from": True, "to": False},
    },
    {"topic": "homeassistant/sensor/steps/state", "attribute": "steps", "mode": "update"},
]


class Harness:
    def __init__(self, mock, broker, tmp_path, tz: str = "UTC", clock=time.time):
        text = bridge_config(
            url=mock.url,
            token=Env("EXIST_TOKEN"),
            timezone=tz,
            port=broker.port,
            state_dir=tmp_path / "state",
            attributes=ATTRIBUTES,
            mappings=MAPPINGS,
        )
        self.config = parse_config(text, env={"EXIST_TOKEN": mock.token})
        self.mock = mock
        self.bridge = start_bridge(self.config, clock=clock)
        self.pub = Publisher(broker.port)

    def settle(self, messages: int) -> None:
        """Wait until the bridge has committed ``messages`` messages."""
        wait_until(
            lambda: (
                self.bridge.outbox.counters().get("messages", 0)
                + self.bridge.outbox.counters().get("duplicates_ignored", 0)
                >= messages
            )
        )

    def flush(self):
        return self.bridge.flusher.flush_once()

    def write_requests(self) -> list[dict]:
        return [
            j
            for j in self.mock.state.journal("/api/2/attributes/")
            if j["path"].endswith(("/update/", "/increment/"))
        ]

    def close(self) -> None:
        self.pub.close()
        self.bridge.stop()


@pytest.fixture
def harness(mock_exist, mosquitto, tmp_path):
    h = Harness(mock_exist, mosquitto, tmp_path)
    yield h
    h.close()


def test_bootstrap_acquires_and_creates_the_configured_attributes(harness, mock_exist):
    fridge = mock_exist.state.attribute("fridge_opens")
    steps = mock_exist.state.attribute("steps")
    assert fridge["service"]["name"] == "mock_client" and fridge["manual"] is False
    assert steps["service"]["name"] == "mock_client" and steps["template"] == "steps"


def test_door_sensor_counts_openings_not_repeated_states(harness, mock_exist):
    topic = "zigbee2mqtt/kitchen/fridge"
    states = [True, False, False, True, True, False, True, False]  # 3 true->false edges
    for contact in states:
        harness.pub.publish(topic, {"contact": contact, "battery": 97, "linkquality": 120})
    harness.settle(len(states))
    harness.flush()
    assert mock_exist.state.value("fridge_opens", today()) == 3


def test_step_counter_total_is_an_update_last_one_wins(harness, mock_exist):
    for total in ("1200", "3400", "5021"):
        harness.pub.publish("homeassistant/sensor/steps/state", total)
    harness.settle(3)
    harness.flush()
    assert mock_exist.state.value("steps", today()) == 5021
    ops = [e["op"] for e in mock_exist.state.ledger(attribute="steps")]
    assert ops == ["update"]  # one coalesced write, no increments for update-mode rows


def test_retained_messages_are_never_counted(harness, mock_exist, mosquitto):
    topic = "zigbee2mqtt/hall/fridge"
    harness.pub.publish(topic, {"contact": True}, retain=True)
    harness.pub.publish(topic, {"contact": False}, retain=True)  # an edge, but retained
    # a second bridge subscriber would now get the retained False as a snapshot; here the live
    # bridge got both as live messages (retain flag cleared for subscribers already connected)
    harness.settle(2)
    live_count = 1
    harness.flush()
    assert mock_exist.state.value("fridge_opens", today()) == live_count

    # restart the bridge: the broker hands it the retained message again, flagged retained
    harness.bridge.stop()
    bridge = Bridge(harness.config)
    bridge.start()
    try:
        wait_until(lambda: bridge.outbox.counters().get("messages", 0) >= 3)
        bridge.flusher.flush_once()
        assert mock_exist.state.value("fridge_opens", today()) == live_count
    finally:
        bridge.stop()
        harness.bridge = Bridge(harness.config)  # so the fixture's close() has one to stop
        harness.bridge.start()


def test_events_on_both_sides_of_local_midnight_land_on_two_dates(mock_exist, mosquitto, tmp_path):
    tz = ZoneInfo("Pacific/Auckland")
    now = {"t": datetime(2024, 3, 9, 23, 59, 58, tzinfo=tz).timestamp()}
    h = Harness(mock_exist, mosquitto, tmp_path, tz="Pacific/Auckland", clock=lambda: now["t"])
    try:
        topic = "zigbee2mqtt/kitchen/fridge"
        for contact in (True, False, True):
            h.pub.publish(topic, {"contact": contact})
        h.settle(3)
        now["t"] += 4  # 00:00:02 on the 10th
        for contact in (False, True, False):
            h.pub.publish(topic, {"contact": contact})
        h.settle(6)
        h.flush()
        assert mock_exist.state.values("fridge_opens") == {"2024-03-09": 1, "2024-03-10": 2}
    finally:
        h.close()


def test_a_thousand_events_become_two_requests_not_a_thousand(harness, mock_exist):
    topic = "zigbee2mqtt/kitchen/fridge"
    for i in range(1000):
        harness.pub.publish(topic, {"contact": i % 2 == 0})  # true, false, true, ...: 500 edges
    harness.settle(1000)
    before = len(harness.write_requests())
    report = harness.flush()
    assert mock_exist.state.value("fridge_opens", today()) == 500
    assert len(harness.write_requests()) - before == report.requests == 2  # learn base + update
    harness.pub.publish(topic, {"contact": True})
    harness.pub.publish(topic, {"contact": False})
    harness.settle(1002)
    harness.flush()
    assert mock_exist.state.value("fridge_opens", today()) == 501
    assert len(harness.write_requests()) - before == 3  # later flushes: one update


def test_bad_input_is_counted_and_kept_aside_without_blocking_good_messages(harness, mock_exist):
    topic = "zigbee2mqtt/kitchen/fridge"
    bad = [b"not json", b"\xff\xfe\x00binary", b"", b"{" * 5000, b'{"contact": NaN}']
    for payload in bad:
        harness.pub.publish(topic, payload)
    for contact in (True, False):
        harness.pub.publish(topic, {"contact": contact})
    harness.pub.publish("homeassistant/sensor/steps/state", "lots")
    harness.settle(len(bad) + 3)
    harness.flush()
    assert mock_exist.state.value("fridge_opens", today()) == 1
    status = harness.bridge.outbox.status()
    assert sum(status["dead_letters"].values()) == len(bad) + 1
