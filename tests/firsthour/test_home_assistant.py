"""Home Assistant habits: `!secret` from secrets.yaml beside the config, discovery entities that
follow HA's conventions (published at start, with a status), and two bridges sharing a
topic_prefix are told apart (a warning, never silently)."""

from __future__ import annotations

import json
import logging

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from mqtt_bridge.config import ConfigError, load_config, parse_config
from mqtt_bridge.service import Bridge

from ..support.bridge import start_bridge
from ..support.config import bridge_config
from ..support.waiting import wait_until

SECRET_CONFIG = """\
exist:
  token: !secret exist_token
mqtt:
  username: bridge
  password: !secret mqtt_password
attributes: [{template: coffees}]
mappings: [{topic: a, attribute: coffees}]
"""


def test_secret_values_come_from_secrets_yaml_beside_the_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path.parent)  # not the config's directory
    (tmp_path / "bridge.yaml").write_text(SECRET_CONFIG)
    (tmp_path / "secrets.yaml").write_text("exist_token: abc123\nmqtt_password: 4711\n")
    config = load_config(tmp_path / "bridge.yaml")
    assert config.exist.token.reveal() == "abc123"
    assert config.mqtt.password.reveal() == "4711"
    assert "abc123" not in repr(config)


def test_a_missing_secret_names_it_and_the_file(tmp_path):
    (tmp_path / "bridge.yaml").write_text(SECRET_CONFIG)
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "bridge.yaml")
    secrets = tmp_path / "secrets.yaml"
    assert [p.format("bridge.yaml") for p in err.value.problems] == [
        f"bridge.yaml:2: exist.token: !secret exist_token: no {secrets} (it holds the !secret "
        "values, one 'name: value' per line)",
        f"bridge.yaml:5: mqtt.password: !secret mqtt_password: no {secrets} (it holds the "
        "!secret values, one 'name: value' per line)",
    ]
    secrets.write_text("exist_token: abc\n")
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "bridge.yaml")
    assert [p.format("bridge.yaml") for p in err.value.problems] == [
        f"bridge.yaml:5: mqtt.password: !secret mqtt_password: no 'mqtt_password' in {secrets}"
    ]


def bridge_for(mock, broker, tmp_path, client_id: str) -> Bridge:
    text = bridge_config(
        url=mock.url,
        token=mock.token,
        port=broker.port,
        state_dir=tmp_path / client_id,
        client_id=client_id,
        delay=60,
        mqtt={"discovery": True},
        attributes=[{"template": "coffees"}],
        mappings=[{"topic": "zigbee2mqtt/coffee_button", "attribute": "coffees"}],
    )
    # subscribed (SUBACK) on return: messages published before it would be dropped
    return start_bridge(parse_config(text), bootstrap=False)


class Watcher:
    def __init__(self, port: int):
        self.last: dict[str, bytes] = {}
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, client_id="ha-watcher"
        )
        self.client.on_message = lambda c, u, m: self.last.__setitem__(m.topic, m.payload)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(
            [("homeassistant/#", 0), ("exist-bridge/#", 0)]
        )
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_discovery_follows_home_assistants_conventions(mock_exist, mosquitto, tmp_path):
    watcher = Watcher(mosquitto.port)
    bridge = bridge_for(mock_exist, mosquitto, tmp_path, "ha-bridge")
    try:
        node = "ha_bridge"
        topics = {
            kind: f"homeassistant/{kind.split('/')[0]}/{node}/{kind.split('/')[1]}/config"
            for kind in (
                "binary_sensor/connected",
                "sensor/pending",
                "sensor/budget",
                "sensor/last_sync",
            )
        }
        wait_until(lambda: all(t in watcher.last for t in topics.values()))
        configs = {k: json.loads(watcher.last[t]) for k, t in topics.items()}
        for payload in configs.values():
            assert payload["entity_category"] == "diagnostic"
            assert payload["has_entity_name"] is True
            assert "bridge" not in payload["name"].lower()  # HA prefixes the device's name
            assert payload["device"]["name"] == "Exist MQTT bridge"
        for kind in ("sensor/pending", "sensor/budget"):
            assert configs[kind]["state_class"] == "measurement"
            assert configs[kind]["unit_of_measurement"]
        assert configs["sensor/last_sync"]["device_class"] == "timestamp"
        # the status is there at start, before any flush: the entities aren't "unknown" for long
        wait_until(lambda: "exist-bridge/status" in watcher.last)
        status = json.loads(watcher.last["exist-bridge/status"])
        assert status["client_id"] == "ha-bridge"
        assert "last_sync_iso" in status and status["last_sync_iso"] is None
        assert bridge.flusher is not None and bridge.last_report is None  # no flush yet
    finally:
        bridge.stop()
        watcher.close()


def test_two_bridges_sharing_a_topic_prefix_are_warned_about(
    mock_exist, mosquitto, tmp_path, caplog
):
    first = bridge_for(mock_exist, mosquitto, tmp_path, "bridge-one")
    second = None
    try:
        wait_until(lambda: first.link.connected)
        with caplog.at_level(logging.WARNING, logger="exist_bridge.mqtt"):
            second = bridge_for(mock_exist, mosquitto, tmp_path, "bridge-two")
            wait_until(
                lambda: any(
                    "publishes its status on exist-bridge/status too" in r.getMessage()
                    for r in caplog.records
                )
            )
        line = next(r.getMessage() for r in caplog.records if "too:" in r.getMessage())
        assert "give each its own mqtt.topic_prefix" in line
        assert "'bridge-one'" in line or "'bridge-two'" in line
    finally:
        first.stop()
        if second is not None:
            second.stop()


def test_one_bridge_alone_is_not_warned_about(mock_exist, mosquitto, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="exist_bridge.mqtt"):
        bridge = bridge_for(mock_exist, mosquitto, tmp_path, "bridge-alone")
        try:
            wait_until(lambda: bridge.link.connected)
            bridge.link.publish_status(bridge.status())  # its own status comes back
            bridge.link.client.publish("exist-bridge/status", "not json", retain=False)
            # a message after them, from the same client: once it is in, they were seen
            bridge.link.client.publish("zigbee2mqtt/coffee_button", "1", qos=1)
            wait_until(lambda: bridge.outbox.counters().get("messages", 0) >= 1)
        finally:
            bridge.stop()
    assert not [r for r in caplog.records if "too:" in r.getMessage()]


def test_watching_the_status_topic_leaves_the_subscription_report_alone(
    mock_exist, mosquitto, tmp_path, caplog
):
    with caplog.at_level(logging.INFO, logger="exist_bridge.mqtt"):
        bridge = bridge_for(mock_exist, mosquitto, tmp_path, "suback-bridge")
        try:
            wait_until(lambda: bridge.link.subacks)
            wait_until(lambda: bridge.link._status_mid is not None)
            # both SUBACKs are in once a message on a mapped topic has come back
            bridge.link.client.publish("zigbee2mqtt/coffee_button", "1", qos=1)
            wait_until(lambda: bridge.outbox.counters().get("messages", 0) >= 1)
        finally:
            bridge.stop()
    assert len(bridge.link.subacks) == 1  # the mappings' SUBACK only
    subscribed = [
        r.getMessage() for r in caplog.records if r.getMessage().startswith("subscribed to")
    ]
    assert subscribed == ["subscribed to zigbee2mqtt/coffee_button"]
