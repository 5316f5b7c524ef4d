"""Home Assistant's `unavailable`/`unknown` on a statestream topic is a sensor without a reading:
skipped as `unavailable` (logged at DEBUG only), never a dead letter (issue 24, item 5)."""

from __future__ import annotations

from ..support.cli import RunningBridge, cli
from ..support.config import write_bridge_config
from ..support.mqtt import Publisher

TOPIC = "homeassistant/sensor/phone_steps/state"


def make(tmp_path, mock, port: int = 1883):
    meter = {"name": "meter_units", "label": "Meter units", "group": "food", "value_type": 0}
    return write_bridge_config(
        tmp_path / "bridge.yaml",
        attributes=[{"template": "steps"}, meter],
        mappings=[
            {"topic": TOPIC, "attribute": "steps", "mode": "update"},
            {"topic": "meter/energy", "attribute": "meter_units", "mode": "counter"},
        ],
        state_dir=tmp_path / "state",
        url=mock.url,
        token=mock.token,
        port=port,
    )


def publish(port: int, *messages: tuple[str, str]) -> None:
    publisher = Publisher(port, client_id="ha-pub")
    try:
        for topic, payload in messages:
            publisher.publish(topic, payload)
    finally:
        publisher.close()


def test_test_says_skipped_unavailable(mock_exist, tmp_path):
    path = make(tmp_path, mock_exist)
    done = cli("test", "-c", str(path), "-t", TOPIC, "-m", "unavailable")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "  skipped: unavailable ('unavailable': no reading)" in done.stdout.splitlines()
    assert "bad input" not in done.stdout


def test_the_bridge_skips_them_without_a_warning_or_a_dead_letter(mock_exist, mosquitto, tmp_path):
    path = make(tmp_path, mock_exist, mosquitto.port)
    bridge = RunningBridge(path, verbose=True)
    try:
        bridge.wait_for("subscribed to")
        publish(
            mosquitto.port,
            (TOPIC, "unavailable"),
            (TOPIC, "unknown"),
            ("meter/energy", "unavailable"),
            (TOPIC, "1234"),
        )
        bridge.wait_for(f"{TOPIC} -> steps = 1234")
    finally:
        assert bridge.stop() == 0
    log = bridge.text().splitlines()
    debug = [line for line in log if ": unavailable ('un" in line]
    assert len(debug) == 3 and all(" DEBUG " in line for line in debug), debug
    assert not [line for line in log if " WARNING " in line and "unavailable" in line]
    status = cli("status", "-c", str(path)).stdout.splitlines()
    assert "dead letters:    0" in status
    assert [s for s in status if s.startswith("messages:")][0].startswith(
        "messages:        4 received, 1 counted, 3 skipped"
    )


def test_test_names_an_infinite_payload_as_it_was_sent(mock_exist, tmp_path):
    path = make(tmp_path, mock_exist)
    for payload in ("inf", "-Infinity"):
        done = cli("test", "-c", str(path), "-t", TOPIC, f"--message={payload}")
        assert done.returncode == 1, done.stdout + done.stderr
        expected = f"  bad input (not_finite): {payload!r} is not a finite number"
        assert expected in done.stdout.splitlines(), done.stdout
