"""`exist-bridge test` and `run --dry-run` against real messages, a real mosquitto and the mock:
they show what each mapping makes of a message and write nothing."""

from __future__ import annotations

import hashlib
import sqlite3
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ..support.cli import RunningBridge, cli, write_config
from ..support.config import COFFEE_FRIDGE_ATTRIBUTES, COFFEE_FRIDGE_MAPPINGS, write_bridge_config
from ..support.days import today

TZ = "Europe/Berlin"  # the bridge's day, not the machine's


def make(tmp_path, mock, port: int = 1883):
    return write_bridge_config(
        tmp_path / "bridge.yaml",
        url=mock.url,
        token=mock.token,
        port=port,
        state_dir=tmp_path / "state",
        client_id="trial-bridge",
        timezone=TZ,
        attributes=COFFEE_FRIDGE_ATTRIBUTES,
        mappings=COFFEE_FRIDGE_MAPPINGS,
    )


def publish(port: int, topic: str, payload: str) -> None:
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="trial-pub")
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        client.publish(topic, payload, qos=1).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def counters(state_dir) -> dict:
    db = sqlite3.connect(f"file:{state_dir / 'outbox.sqlite'}?mode=ro", uri=True)
    try:
        return dict(db.execute("SELECT name, value FROM counters"))
    finally:
        db.close()


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_counting_message_shows_condition_value_and_effect(mock_exist, tmp_path):
    path = make(tmp_path, mock_exist)
    done = cli(
        "test",
        "-c",
        str(path),
        "-t",
        "zigbee2mqtt/coffee_button",
        "-m",
        '{"action": "single", "battery": 97, "linkquality": 102}',
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "mappings[0] zigbee2mqtt/coffee_button -> coffees (increment): matched" in lines
    assert "  condition: true" in lines
    assert f"  effect: add 1 -> coffees on {today(TZ)}" in lines
    assert (
        "mappings[1] zigbee2mqtt/+/fridge -> fridge_opens (increment): topic does not match"
        in lines
    )
    assert lines[-1] == "result: it would count (nothing was written)"
    assert not (tmp_path / "state").exists()  # no state directory made


def test_a_skipped_message_says_exactly_why(mock_exist, tmp_path):
    path = make(tmp_path, mock_exist)
    done = cli(
        "test", "-c", str(path), "-t", "zigbee2mqtt/coffee_button", "-m", '{"action": "double"}'
    )
    assert done.returncode == 1
    assert "  condition: false" in done.stdout.splitlines()
    assert "  skipped: condition false" in done.stdout.splitlines()
    # an edge topic's first message only records its state
    done = cli(
        "test", "-c", str(path), "-t", "zigbee2mqtt/kitchen/fridge", "-m", '{"contact": false}'
    )
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert "  value: false (from json_path contact)" in lines
    assert "  state used: none (the first message of this topic)" in lines
    assert "  skipped: edge: state recorded (no previous state)" in lines
    # a retained message
    done = cli(
        "test",
        "-c",
        str(path),
        "-t",
        "zigbee2mqtt/coffee_button",
        "-m",
        '{"action": "single"}',
        "--retained",
    )
    assert done.returncode == 1 and "  skipped: retained snapshot" in done.stdout.splitlines()
    # bad input
    done = cli("test", "-c", str(path), "-t", "zigbee2mqtt/kitchen/fridge", "-m", "open")
    assert done.returncode == 1
    assert any(line.startswith("  bad input (not_json):") for line in done.stdout.splitlines())


def test_uses_the_running_bridges_edge_state_read_only(mock_exist, mosquitto, tmp_path):
    path = make(tmp_path, mock_exist, mosquitto.port)
    bridge = RunningBridge(path)
    try:
        bridge.wait_for("subscribed to")
        publish(mosquitto.port, "zigbee2mqtt/kitchen/fridge", '{"contact": true}')
        deadline = time.monotonic() + 30
        while counters(tmp_path / "state").get("messages", 0) < 1:
            assert time.monotonic() < deadline, bridge.text()
            time.sleep(0.05)
    finally:
        bridge.stop()
    outbox = tmp_path / "state" / "outbox.sqlite"
    before = digest(outbox)
    done = cli(
        "test", "-c", str(path), "-t", "zigbee2mqtt/kitchen/fridge", "-m", '{"contact": false}'
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert '  state used: {"last": true}' in lines
    assert '  state after: {"last": false}' in lines
    assert f"  effect: add 1 -> fridge_opens on {today(TZ)}" in lines
    assert digest(outbox) == before  # nothing written


def test_dry_run_logs_effects_and_leaves_the_real_bridges_queue(mock_exist, mosquitto, tmp_path):
    path = make(tmp_path, mock_exist, mosquitto.port)
    real = RunningBridge(path)  # makes the real bridge's persistent session, then stops
    try:
        real.wait_for("subscribed to")
    finally:
        assert real.stop() == 0
    before = counters(tmp_path / "state")
    writes_before = len(mock_exist.state.journal("/api/2/attributes/"))

    dry = RunningBridge(write_config(tmp_path, path.read_text(), "dry.yaml"), "--dry-run")
    try:
        line = dry.wait_for("dry run: nothing is written")
        assert "client id trial-bridge-dry-run-" in line and "(clean session)" in line
        dry.wait_for("subscribed to")
        publish(mosquitto.port, "zigbee2mqtt/coffee_button", '{"action": "single"}')
        line = dry.wait_for("dry run: zigbee2mqtt/coffee_button ->")
        assert line.endswith(f"-> coffees +1 on {today(TZ)}")
        publish(mosquitto.port, "zigbee2mqtt/coffee_button", '{"action": "double"}')
        line = dry.wait_for("dry run: zigbee2mqtt/coffee_button -> coffees: condition false")
    finally:
        assert dry.stop() == 0
    assert "dry run stopped after 2 message(s)" in dry.text()
    assert counters(tmp_path / "state") == before  # the outbox untouched
    assert len(mock_exist.state.journal("/api/2/attributes/")) == writes_before  # Exist too

    # the real bridge still gets both messages: they were queued in its own session
    real = RunningBridge(path)
    try:
        deadline = time.monotonic() + 30
        while counters(tmp_path / "state").get("messages", 0) < 2:
            assert time.monotonic() < deadline, real.text()
            time.sleep(0.05)
        assert counters(tmp_path / "state").get("events", 0) == 1
    finally:
        real.stop()
