"""The mirror end to end: a private mosquitto, the mock over real HTTP, the real ``Bridge``.

Values another client writes in Exist appear on MQTT within one refresh, with Home Assistant
discovery for them; the bridge's own writes are mirrored with what Exist confirmed; and a day of
hourly refreshes of 20 attributes costs one request each, counted in the mock's journal."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timezone

import pytest

from mqtt_bridge.config import parse_config
from mqtt_bridge.config.model import ReadSettings
from mqtt_bridge.exist.budget import RequestBudget
from mqtt_bridge.exist.client import ExistClient
from mqtt_bridge.pipeline.mirror.refresher import Refresher

from ..support.bridge import BRIDGE_CMD, start_bridge
from ..support.config import bridge_config
from ..support.days import today
from ..support.exist_api import Api
from ..support.mqtt import Publisher, Watcher
from ..support.waiting import wait_until

INTERVAL = 10  # seconds between refreshes: the shortest read.interval


def state(watcher: Watcher, topic: str) -> dict | None:
    payload = watcher.payload(topic)
    return None if payload is None else json.loads(payload)


def press(port: int, topic: str) -> None:
    """One event on ``topic`` (QoS 1, in the broker on return)."""
    pub = Publisher(port)
    pub.publish(topic, "1")
    pub.close()


def written(watcher: Watcher, attribute: str, value: object) -> bool:
    """Whether the mirror published ``attribute`` at ``value`` from the bridge's own write."""
    return any(
        topic == f"exist/{attribute}/state"
        and json.loads(payload)["source"] == "write"
        and json.loads(payload)["state"] == value
        for topic, payload in watcher.seen
    )


def test_values_written_by_another_client_appear_within_one_refresh(
    mock_exist, mosquitto, tmp_path
):
    mock = mock_exist.state
    day = today()
    mock.add_client("other_app", "secret", ["http://localhost:9/"], label="Other app")
    other = Api(mock_exist.url, mock.issue_token(client_id="other_app")["access_token"])
    mock.seed_attribute(None, template="mood", owner="other_app", values={day: 6})
    mock.seed_attribute(None, template="sleep", owner="other_app", values={day: 420})
    mock.seed_attribute(None, template="coffees")
    mock.seed_average("sleep", 430, {"monday": 400})
    mock.seed_insight("You sleep longer on Mondays.", attribute="sleep")
    watcher = Watcher(mosquitto.port, ["exist/#", "homeassistant/#"])
    text = bridge_config(
        url=mock_exist.url,
        token=mock_exist.token,
        port=mosquitto.port,
        state_dir=tmp_path / "state",
        client_id="mirror-bridge",
        delay=1,
        mqtt={"discovery": True},
        attributes=[{"template": "coffees"}],
        mappings=[{"topic": "button/kitchen", "attribute": "coffees"}],
        read={
            "attributes": ["mood", "sleep", "coffees"],
            "interval": INTERVAL,
            "averages": True,
            "insights": True,
        },
    )
    bridge = start_bridge(parse_config(text))
    try:
        wait_until(lambda: (state(watcher, "exist/mood/state") or {}).get("state") == 6)
        other.post("attributes/update/", [{"name": "mood", "date": day, "value": 8}])
        wait_until(
            lambda: (state(watcher, "exist/mood/state") or {}).get("state") == 8,
            timeout=INTERVAL + 10,
        )
        late = Watcher(mosquitto.port, ["exist/mood/state"])  # Home Assistant after a restart
        try:
            wait_until(lambda: "exist/mood/state" in late.last)
            payload, retained = late.last["exist/mood/state"]
            assert retained is True and json.loads(payload)["state"] == 8
        finally:
            late.close()
        sleep = state(watcher, "exist/sleep/state")
        assert (sleep["state"], sleep["unit"], sleep["average"]) == (420, "min", 430.0)
        insight = state(watcher, "exist/insights/state")
        assert insight["state"] == "You sleep longer on Mondays." and insight["date"] == day

        node = "mirror_bridge"
        configs = {
            topic: json.loads(payload)
            for topic, (payload, _) in watcher.last.items()
            if topic.startswith(f"homeassistant/sensor/{node}_exist/")
        }
        names = {topic.split("/")[3] for topic in configs}
        assert names == {"mood", "sleep", "coffees", "insight"}
        for payload in configs.values():  # Home Assistant's conventions, as for the bridge's own
            assert payload["has_entity_name"] is True
            assert payload["availability_topic"] == "exist-bridge/availability"
            assert payload["unique_id"].startswith(f"{node}_exist_")
            assert payload["device"]["name"] == "Exist"
            assert payload["device"]["via_device"] == node
            assert payload["state_topic"] == payload["json_attributes_topic"]
            assert payload["state_topic"].startswith("exist/")
        mood = configs[f"homeassistant/sensor/{node}_exist/mood/config"]
        assert mood["state_class"] == "measurement" and mood["name"] == "Mood"
        sleep_config = configs[f"homeassistant/sensor/{node}_exist/sleep/config"]
        assert sleep_config["device_class"] == "duration"
        assert sleep_config["unit_of_measurement"] == "min"
        # the bridge's device is announced too: via_device points at it
        bridge_device = json.loads(watcher.payload(f"homeassistant/sensor/{node}/pending/config"))
        assert bridge_device["device"]["identifiers"] == [node]

        # the bridge's own write: mirrored with the total Exist confirmed
        press(mosquitto.port, "button/kitchen")
        wait_until(lambda: written(watcher, "coffees", 1), timeout=INTERVAL + 10)
        status = bridge.status()["read"]  # the status topic's
        assert status["attributes"] == 3 and status["postponed"] is None
        config_file = tmp_path / "bridge.yaml"
        config_file.write_text(text)
        shown = subprocess.run(
            [*BRIDGE_CMD, "status", "-c", str(config_file)], capture_output=True, text=True
        )
        assert "exist mirror:    3 attribute(s), last refresh 20" in shown.stdout
    finally:
        bridge.stop()
        watcher.close()


@pytest.mark.parametrize(("summaries", "expected"), [(False, 24), (True, 26)])
def test_a_day_of_hourly_refreshes_of_20_attributes_costs_one_request_each(
    mock_exist, summaries, expected
):
    mock = mock_exist.state
    mock.set_clock("2024-03-04T00:30:00+00:00")  # frozen: this test moves it
    names = tuple(f"habit_{i:02d}" for i in range(20))
    for n, name in enumerate(names):
        mock.seed_attribute(name, group="custom", value_type=0, values={"2024-03-04": n})
        mock.seed_average(name, n)
    mock.seed_insight("A day like any other.")
    client = ExistClient(
        mock_exist.token,
        base_url=mock_exist.url,
        budget=RequestBudget(clock=mock.clock.timestamp),
        clock=mock.clock.timestamp,
    )
    published: dict[str, str] = {}
    settings = ReadSettings(enabled=True, attributes=names, averages=summaries, insights=summaries)
    refresher = Refresher(
        settings, client, published.__setitem__, "UTC", clock=mock.clock.timestamp
    )
    start = mock.clock.timestamp()
    for hour in range(24):
        mock.set_clock(datetime.fromtimestamp(start + hour * 3600, timezone.utc))
        refresher.step()
    journal = mock.journal("/api/2/")
    assert all(entry["status"] == 200 for entry in journal)
    paths = [entry["path"] for entry in journal]
    assert paths.count("/api/2/attributes/with-values/") == 24  # one page each: 20 < 100
    assert len(paths) == expected  # + one averages/ and one insights/ request a day
    assert len(published) == 20 + (1 if summaries else 0)
    assert json.loads(published["exist/habit_19/state"])["state"] == 19


def test_a_read_in_flight_never_holds_up_the_final_flush(mock_exist, mosquitto, tmp_path):
    mock = mock_exist.state
    mock.seed_attribute(None, template="coffees")
    # the mirror's first refresh hangs in Exist past the whole stop
    hang = mock.add_fault("/api/2/attributes/with-values/", mode="latency", latency=20)
    text = bridge_config(
        url=mock_exist.url,
        token=mock_exist.token,
        port=mosquitto.port,
        state_dir=tmp_path / "state",
        client_id="stop-bridge",
        delay=3600,  # nothing is sent before the stop
        bridge={"stop_timeout": 5},
        attributes=[{"template": "coffees"}],
        mappings=[{"topic": "button/kitchen", "attribute": "coffees"}],
        read={"attributes": ["coffees"], "interval": 3600},
    )
    bridge = start_bridge(parse_config(text))
    try:
        wait_until(lambda: hang.fired == 1)  # the read is in flight
        press(mosquitto.port, "button/kitchen")
        wait_until(lambda: bridge.outbox.counters().get("events", 0) == 1)
    finally:
        bridge.stop()
    assert mock.value("coffees", today()) == 1  # sent by the stop's final flush
    assert bridge.outbox.status()["pending_rows"] == 0


def mirrored(bridge, name: str) -> bool:
    """Whether the mirror knows ``name``; if not, a refresh is asked for at once (the first may
    have run before the bridge created the attribute)."""
    if name in bridge.mirror.known:
        return True
    bridge.mirror.next_at = 0
    bridge.mirror.wake()
    return False


def test_a_confirmed_write_is_mirrored_under_the_name_exist_gave(mock_exist, mosquitto, tmp_path):
    watcher = Watcher(mosquitto.port, ["exist/#"])
    text = bridge_config(
        url=mock_exist.url,
        token=mock_exist.token,
        port=mosquitto.port,
        state_dir=tmp_path / "state",
        client_id="alias-bridge",
        delay=1,
        # created from its label: Exist names it fridge_door_openings
        attributes=[
            {
                "name": "fridge_opens",
                "label": "Fridge door openings",
                "group": "food",
                "value_type": 0,
            }
        ],
        mappings=[{"topic": "fridge/door", "attribute": "fridge_opens"}],
        read={"attributes": ["fridge_door_openings"], "interval": 3600},
    )
    bridge = start_bridge(parse_config(text))
    try:
        wait_until(lambda: mirrored(bridge, "fridge_door_openings"))
        press(mosquitto.port, "fridge/door")
        wait_until(lambda: written(watcher, "fridge_door_openings", 1))
    finally:
        bridge.stop()
        watcher.close()
    assert mock_exist.state.value("fridge_door_openings", today()) == 1
