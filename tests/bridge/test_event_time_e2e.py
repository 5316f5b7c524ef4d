"""Event time end to end: a real mosquitto, the mock over real HTTP, the bridge in-process with a
receive clock set just after a local midnight. Each device's payload style counts on the day it
happened; a message the broker held across midnight while the bridge was stopped keeps its day;
untrusted times fall back to the receive date and show in `exist-bridge status`."""

from __future__ import annotations

import io
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from mqtt_bridge.cli import run as cli_run
from mqtt_bridge.config import parse_config
from mqtt_bridge.service import Bridge

from ..support.bridge import start_bridge
from ..support.config import bridge_config
from ..support.mqtt import Publisher
from ..support.waiting import wait_until

pytestmark = pytest.mark.slow  # mosquitto and a bridge

ZONE = ZoneInfo("Europe/Berlin")
DAY_BEFORE, DAY = "2024-03-09", "2024-03-10"


def at(day: str, hh: int, mm: int) -> float:
    """Epoch seconds of a local (Berlin) time."""
    y, m, d = (int(x) for x in day.split("-"))
    return datetime(y, m, d, hh, mm, tzinfo=ZONE).timestamp()


def custom(name: str, label: str, value_type: int) -> dict:
    return {"name": name, "label": label, "group": "custom", "value_type": value_type}


ATTRIBUTES = [
    custom("door_opens", "Door opens", 0),
    custom("window_opens", "Window opens", 0),
    custom("energy", "Energy", 1),
    custom("tv_minutes", "TV minutes", 3),
    custom("presses_timed", "Presses timed", 0),
    custom("presses_plain", "Presses plain", 0),
]
OPENED = {"json_path": "contact", "edge": {"from": True, "to": False}}
MAPPINGS = [
    # last_seen: epoch (milliseconds)
    {"topic": "zigbee2mqtt/door", "attribute": "door_opens", **OPENED, "event_time": "last_seen"},
    # last_seen: ISO_8601 with an offset
    {
        "topic": "zigbee2mqtt/window",
        "attribute": "window_opens",
        **OPENED,
        "event_time": "last_seen",
    },
    # Tasmota: Time, naive local ISO 8601
    {
        "topic": "tele/plug/SENSOR",
        "attribute": "energy",
        "mode": "counter",
        "json_path": "ENERGY.Total",
        "event_time": "Time",
    },
    # Shelly gen2 NotifyStatus: params.ts, epoch seconds
    {
        "topic": "shellyplus1pm-tv/events/rpc",
        "attribute": "tv_minutes",
        "mode": "duration",
        "json_path": "params.switch:0.output",
        "event_time": "params.ts",
    },
    # ISO 8601 in UTC, through a template
    {"topic": "button/timed", "attribute": "presses_timed", "event_time": "{{ value_json.when }}"},
    # no event time: the receive date
    {"topic": "button/plain", "attribute": "presses_plain"},
]


class Clock:
    def __init__(self, t: float):
        self.t = t

    def __call__(self) -> float:
        return self.t


def config_text(mock, broker, tmp_path) -> str:
    return bridge_config(
        url=mock.url,
        token=mock.token,
        port=broker.port,
        state_dir=tmp_path / "s",
        client_id="bridge-event-time",
        timezone="Europe/Berlin",
        attributes=ATTRIBUTES,
        mappings=MAPPINGS,
    )


def start(mock, broker, tmp_path, clock: Clock) -> Bridge:
    return start_bridge(parse_config(config_text(mock, broker, tmp_path)), clock=clock)


def settle(bridge: Bridge, messages: int) -> None:
    wait_until(lambda: bridge.outbox.counters().get("messages", 0) >= messages)


def test_each_payload_style_counts_on_the_day_it_happened(mock_exist, mosquitto, tmp_path):
    bridge = start(mock_exist, mosquitto, tmp_path, Clock(at(DAY, 0, 20)))  # received 00:20
    pub = Publisher(mosquitto.port)
    try:
        ms = int(at(DAY_BEFORE, 23, 50) * 1000)
        pub.publish("zigbee2mqtt/door", {"contact": True, "last_seen": ms - 60_000})
        pub.publish("zigbee2mqtt/door", {"contact": False, "last_seen": ms})
        window = "zigbee2mqtt/window"
        pub.publish(window, {"contact": True, "last_seen": "2024-03-09T23:40:00+01:00"})
        pub.publish(window, {"contact": False, "last_seen": "2024-03-10T00:05:00+01:00"})
        pub.publish("tele/plug/SENSOR", {"Time": "2024-03-09T23:30:00", "ENERGY": {"Total": 5.0}})
        pub.publish("tele/plug/SENSOR", {"Time": "2024-03-09T23:59:00", "ENERGY": {"Total": 5.5}})
        pub.publish("tele/plug/SENSOR", {"Time": "2024-03-10T00:10:00", "ENERGY": {"Total": 5.75}})
        on, off = at(DAY_BEFORE, 23, 45), at(DAY, 0, 10)  # 15 min before midnight, 10 after
        for ts, output in ((on, True), (off, False)):
            params = {"ts": float(ts), "switch:0": {"output": output}}
            pub.publish("shellyplus1pm-tv/events/rpc", {"method": "NotifyStatus", "params": params})
        pub.publish("button/timed", {"when": "2024-03-09T22:59:00Z"})  # 23:59 in Berlin
        pub.publish("button/plain", "x")
        settle(bridge, pub.sent)
        bridge.flusher.flush_once()
        values = {
            name: mock_exist.state.values(name)
            for name in (
                "door_opens",
                "window_opens",
                "energy",
                "tv_minutes",
                "presses_timed",
                "presses_plain",
            )
        }
        assert values == {
            "door_opens": {DAY_BEFORE: 1},
            "window_opens": {DAY: 1},
            "energy": {DAY_BEFORE: 0.5, DAY: 0.25},
            "tv_minutes": {DAY_BEFORE: 15, DAY: 10},
            "presses_timed": {DAY_BEFORE: 1},
            "presses_plain": {DAY: 1},
        }
        assert bridge.outbox.counters()["event_time.payload"] == pub.sent - 1
    finally:
        pub.close()
        bridge.stop()


def test_a_message_held_across_midnight_while_stopped_counts_on_its_own_day(
    mock_exist, mosquitto, tmp_path
):
    clock = Clock(at(DAY_BEFORE, 23, 55))
    bridge = start(mock_exist, mosquitto, tmp_path, clock)  # subscribes: a persistent session
    pub = Publisher(mosquitto.port)
    try:
        pub.publish("button/timed", {"when": "2024-03-09T22:55:00Z"})
        pub.publish("button/plain", "x")
        settle(bridge, 2)
        bridge.stop()  # the bridge is down; the broker keeps the session's messages
        pub.publish("button/timed", {"when": "2024-03-09T22:58:00Z"})  # 23:58 local
        pub.publish("button/plain", "y")  # also published at 23:58, no event time
        clock.t = at(DAY, 0, 30)  # the bridge comes back after midnight
        bridge = start(mock_exist, mosquitto, tmp_path, clock)
        settle(bridge, 4)  # the two held messages were delivered from the session
        bridge.flusher.flush_once()
        assert mock_exist.state.values("presses_timed") == {DAY_BEFORE: 2}
        assert mock_exist.state.values("presses_plain") == {DAY_BEFORE: 1, DAY: 1}
    finally:
        pub.close()
        bridge.stop()


def test_untrusted_times_count_on_the_receive_date_and_show_in_status(
    mock_exist, mosquitto, tmp_path
):
    bridge = start(mock_exist, mosquitto, tmp_path, Clock(at(DAY, 0, 20)))
    pub = Publisher(mosquitto.port)
    try:
        pub.publish("button/timed", {"when": "1970-01-01T00:00:07Z"})  # a clock not set yet
        pub.publish("button/timed", {"when": "2024-03-10T23:00:00Z"})  # a day ahead
        pub.publish("button/timed", {"when": "2024-03-02T00:00:00Z"})  # beyond the 7-day window
        pub.publish("button/timed", {"no": "time"})
        pub.publish("button/timed", {"when": "2024-03-09T23:00:00+01:00"})  # trusted
        settle(bridge, pub.sent)
        bridge.flusher.flush_once()
        assert mock_exist.state.values("presses_timed") == {DAY: 4, DAY_BEFORE: 1}
        assert sum(bridge.outbox.status()["dead_letters"].values()) == 0
    finally:
        pub.close()
        bridge.stop()
    cfg = tmp_path / "bridge.yaml"
    cfg.write_text(config_text(mock_exist, mosquitto, tmp_path))
    out, err = io.StringIO(), io.StringIO()
    assert cli_run(["status", "-c", str(cfg)], out, err) == 0, err.getvalue()
    assert (
        "event time:      1 from payloads, in_future: 1, missing: 1, too_old: 2" in out.getvalue()
    )
