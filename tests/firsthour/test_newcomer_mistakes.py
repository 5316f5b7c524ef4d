"""The "first hour" troubleshooting table (docs/troubleshooting.md): each of a newcomer's five
mistakes shows its cause in the log of `exist-bridge run` (or in `exist-bridge check`) in one line
naming the key or the host. One test per row; the log is polled (no timing is asserted)."""

from __future__ import annotations

from tests.support.mosquitto import free_port

from ..support.cli import RunningBridge, cli, write_config

CONFIG = """\
exist:
  base_url: {url}
  token: {token}
{timezone}mqtt:
  host: {host}
  port: {port}
bridge:
  state_dir: {state}
attributes:
  - template: coffees
  - name: fridge_opens
    label: Fridge opens
    group: food
    value_type: 0
mappings:
  - topic: zigbee2mqtt/coffee_button
    attribute: {attribute}
  - topic: zigbee2mqtt/fridge_door
    attribute: fridge_opens
    json_path: {json_path}
    edge: {{from: true, to: false}}
"""


def make(
    tmp_path,
    mock,
    *,
    host="127.0.0.1",
    port=None,
    attribute="coffees",
    json_path="contact",
    token=None,
    timezone="  timezone: UTC\n",
):
    return write_config(
        tmp_path,
        CONFIG.format(
            url=mock.url,
            token=token or mock.token,
            timezone=timezone,
            host=host,
            port=port or free_port(),
            attribute=attribute,
            json_path=json_path,
            state=tmp_path / "state",
        ),
    )


def run_until(path, pattern: str) -> str:
    bridge = RunningBridge(path)
    try:
        return bridge.wait_for(pattern)
    finally:
        bridge.stop()


def test_row_wrong_broker_port(mock_exist, mosquitto, tmp_path):
    port = free_port()
    line = run_until(make(tmp_path, mock_exist, port=port), "ERROR.*MQTT broker")
    assert f"127.0.0.1:{port}: connection refused" in line and "mqtt.port" in line


def test_row_unresolvable_host(mock_exist, tmp_path):
    line = run_until(make(tmp_path, mock_exist, host="homeassistant.invalid"), "ERROR.*MQTT broker")
    assert "homeassistant.invalid" in line and "does not resolve" in line
    assert "mqtt.host" in line


def test_row_mistyped_attribute(mock_exist, mosquitto, tmp_path):
    path = make(tmp_path, mock_exist, port=mosquitto.port, attribute="cofees")
    checked = cli("check", "-c", str(path))
    assert checked.returncode == 1
    assert (
        f"{path}:18: mappings[0].attribute: 'cofees' is neither listed under attributes nor an "
        "Exist template; did you mean 'coffees'?"
    ) in checked.stderr.splitlines()
    line = run_until(path, "ERROR.*config:")  # `run` says it too, at start
    assert "mappings[0].attribute: 'cofees'" in line and "did you mean 'coffees'?" in line


def test_row_wrong_token(mock_exist, mosquitto, tmp_path):
    # no timezone in the config: the first start reads the profile, and the token is wrong
    path = make(tmp_path, mock_exist, port=mosquitto.port, token="not-the-token", timezone="")
    line = run_until(path, "ERROR.*Exist refused the token")
    assert "check EXIST_TOKEN / token_file; here: exist.token" in line
    assert "401" in line
    assert "set exist.timezone" not in line


def test_row_jsonpath_style_path(mock_exist, tmp_path):
    path = make(tmp_path, mock_exist, json_path="$.contact")
    checked = cli("check", "-c", str(path))
    assert checked.returncode == 1
    assert (
        f"{path}:21: mappings[1].json_path: '$.contact' is JSONPath syntax; json_path is a plain "
        "dotted path from the top of the payload: write json_path: contact"
    ) in checked.stderr.splitlines()
    ran = RunningBridge(path)  # `run` refuses to start with the same line
    assert ran.proc.wait(60) == 1
    ran.stop()
    assert "mappings[1].json_path: '$.contact' is JSONPath syntax" in ran.text()


def test_wrong_token_with_a_timezone_is_named_at_attribute_set_up(mock_exist, mosquitto, tmp_path):
    path = make(tmp_path, mock_exist, port=mosquitto.port, token="not-the-token")
    line = run_until(path, "ERROR.*Exist refused the token")
    assert "check EXIST_TOKEN / token_file; here: exist.token): 401" in line
    assert "attribute set-up with Exist failed" not in line
