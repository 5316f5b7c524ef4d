"""A condition's inputs are visible: `test` shows what it saw (`value` is the whole payload,
`value_json` its JSON) and names the usual mistake (testing `value` as if it were the json_path's
result); `status` and the status page count skip reasons per mapping (issue 24, item 2)."""

from __future__ import annotations

import json

import requests

from ..support.cli import RunningBridge, cli
from ..support.config import write_bridge_config
from ..support.mqtt import Publisher
from ..support.net import free_port
from ..support.waiting import wait_until

BUTTON = "zigbee2mqtt/coffee_button"
FRIDGE = "zigbee2mqtt/kitchen/fridge"


def make(
    tmp_path,
    mock,
    port: int = 1883,
    http: int | None = None,
    condition: str = "{{ value == 'single' }}",
):
    path = write_bridge_config(
        tmp_path / "bridge.yaml",
        mappings=[
            {
                "topic": BUTTON,
                "attribute": "coffees",
                "json_path": "action",
                "condition": condition,
            },
            {
                "topic": "zigbee2mqtt/+/fridge",
                "attribute": "coffees",
                "json_path": "contact",
                "edge": {"from": True, "to": False},
            },
        ],
        attributes=[{"template": "coffees"}],
        state_dir=tmp_path / "state",
        url=mock.url,
        token=mock.token,
        port=port,
    )
    if http is not None:
        path.write_text(path.read_text() + f"http:\n  enabled: true\n  port: {http}\n")
    return path


def test_test_shows_what_the_condition_saw_and_the_usual_mistake(mock_exist, tmp_path):
    path = make(tmp_path, mock_exist)
    done = cli("test", "-c", str(path), "-t", BUTTON, "-m", '{"action": "single"}')
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    at = lines.index("  condition: false")
    assert lines[at + 1] == '    value = "{\\"action\\": \\"single\\"}" (the whole payload)'
    assert lines[at + 2] == '    value_json = {"action": "single"}'
    assert lines[at + 3] == (
        "  hint: in a condition, value is the whole payload, not what json_path action picks "
        "(\"single\"); the condition is true on that with {{ value_json.action == 'single' }}"
    )


def test_no_hint_when_the_condition_is_right(mock_exist, tmp_path):
    path = make(tmp_path, mock_exist, condition="{{ value_json.action == 'single' }}")
    done = cli("test", "-c", str(path), "-t", BUTTON, "-m", '{"action": "single"}')
    assert done.returncode == 0, done.stdout + done.stderr
    assert "  condition: true" in done.stdout.splitlines()
    assert "hint:" not in done.stdout
    done = cli("test", "-c", str(path), "-t", BUTTON, "-m", "not json")
    assert "    value_json: undefined (not JSON: " in done.stdout


def publish(port: int, *messages: tuple[str, str]) -> None:
    publisher = Publisher(port, client_id="why-pub")
    try:
        for topic, payload in messages:
            publisher.publish(topic, payload)
    finally:
        publisher.close()


def test_status_and_the_status_page_give_skip_reasons_per_mapping(mock_exist, mosquitto, tmp_path):
    port = free_port()
    path = make(tmp_path, mock_exist, mosquitto.port, http=port)
    bridge = RunningBridge(path)
    try:
        bridge.wait_for("subscribed to")
        press = (BUTTON, '{"action": "single"}')
        publish(mosquitto.port, press, press, press)
        publish(mosquitto.port, (FRIDGE, '{"contact": false}'))

        def skipped() -> int:
            found = json.loads(cli("status", "-c", str(path), "--json").stdout)
            return found["counters"]["skipped"]

        wait_until(lambda: skipped() == 4, timeout=30, interval=0.3)
        done = cli("status", "-c", str(path))
        lines = done.stdout.splitlines()
        at = lines.index("skipped, why:")
        assert lines[at + 1] == f"  mappings[0] {BUTTON} -> coffees: condition false 3"
        assert lines[at + 2] == "  mappings[1] zigbee2mqtt/+/fridge -> coffees: no edge 1"
        found = json.loads(cli("status", "-c", str(path), "--json").stdout)
        assert found["skipped_by_mapping"][0] == {
            "mapping": 0,
            "topic": BUTTON,
            "attribute": "coffees",
            "reasons": {"condition false": 3},
        }
        page = requests.get(f"http://127.0.0.1:{port}/", timeout=5).text
        assert '<td id="skips-0">condition false 3</td>' in page
        assert '<td id="skips-1">no edge 1</td>' in page
    finally:
        assert bridge.stop() == 0
