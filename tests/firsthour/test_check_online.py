"""`exist-bridge check --online` against a real mosquitto and the mock over HTTP: the broker login,
the token, and what the account says about each mapped attribute; nothing is written."""

from __future__ import annotations

from mqtt_bridge.exist.client import ExistClient
from tests.support.mosquitto import Mosquitto, free_port

from ..support.cli import cli, write_config

CONFIG = """\
exist:
  base_url: {url}
  token: {token}
  timezone: UTC
mqtt:
  host: 127.0.0.1
  port: {port}
{mqtt_extra}bridge:
  state_dir: {state}
attributes:
  - template: coffees
  - template: steps
  - name: fridge_opens
    label: Fridge opens
    group: food
    value_type: 0
mappings:
  - {{topic: a, attribute: coffees}}
  - {{topic: b, attribute: steps, mode: update}}
  - {{topic: c, attribute: fridge_opens}}
  - {{topic: d, attribute: {extra_attribute}}}
"""


def make(tmp_path, mock, port, token=None, mqtt_extra="", extra_attribute="coffees"):
    return write_config(
        tmp_path,
        CONFIG.format(
            url=mock.url,
            token=token or mock.token,
            port=port,
            mqtt_extra=mqtt_extra,
            state=tmp_path / "state",
            extra_attribute=extra_attribute,
        ),
    )


def test_everything_fine_and_what_each_attribute_is(mock_exist, mosquitto, tmp_path):
    # steps: this client owns it already; water: owned by another service
    ExistClient(mock_exist.token, base_url=mock_exist.url).acquire([{"template": "steps"}])
    mock_exist.state.seed_attribute(
        "water", template="water", owner="another-service", manual=False
    )
    path = make(tmp_path, mock_exist, mosquitto.port)
    before = len(mock_exist.state.journal("/api/2/"))
    done = cli("check", "-c", str(path), "--online")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert f"broker 127.0.0.1:{mosquitto.port}: connected, login accepted (anonymous)" in lines
    assert any(
        line.startswith(f"Exist {mock_exist.url}: the token works (user ") for line in lines
    ), lines
    assert "  steps: owned by this client; the bridge can write it" in lines
    assert "  coffees: not in the account yet; acquired from Exist's template at start" in lines
    assert (
        "  fridge_opens: not in the account yet; created at start (label 'Fridge opens')" in lines
    )
    assert lines[-1] == "online: 0 problem(s)"
    calls = mock_exist.state.journal("/api/2/")[before:]
    assert calls and all(c["method"] == "GET" for c in calls)  # nothing written to Exist
    assert not (tmp_path / "state").exists()  # nor a state directory


def test_an_attribute_owned_by_another_service_and_not_listed(mock_exist, mosquitto, tmp_path):
    mock_exist.state.seed_attribute(
        "water", template="water", owner="another-service", manual=False
    )
    path = make(tmp_path, mock_exist, mosquitto.port, extra_attribute="water")
    done = cli("check", "-c", str(path), "--online")
    assert done.returncode == 1
    assert any(
        line.startswith("problem:   water: owned by ") and "not listed under attributes" in line
        for line in done.stdout.splitlines()
    ), done.stdout


def test_a_wrong_token_and_a_closed_port(mock_exist, tmp_path):
    port = free_port()
    path = make(tmp_path, mock_exist, port, token="wrong-token")
    done = cli("check", "-c", str(path), "--online")
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert any(
        line.startswith(f"problem: broker 127.0.0.1:{port}: connection refused") for line in lines
    ), lines
    assert any(
        line.startswith(
            f"problem: Exist {mock_exist.url}: Exist refused the token (check "
            "EXIST_TOKEN / token_file; here: exist.token)"
        )
        for line in lines
    ), lines
    assert lines[-1] == "online: 2 problem(s)"


def test_broker_credentials_are_checked(mock_exist, tmp_path):
    broker = Mosquitto(tmp_path / "mosquitto", users={"bridge": "right"}).start()
    try:
        wrong = make(
            tmp_path, mock_exist, broker.port, mqtt_extra="  username: bridge\n  password: wrong\n"
        )
        done = cli("check", "-c", str(wrong), "--online")
        assert done.returncode == 1
        assert any(
            line.startswith(
                f"problem: broker 127.0.0.1:{broker.port}: the broker refused the login"
            )
            for line in done.stdout.splitlines()
        )
        right = make(
            tmp_path, mock_exist, broker.port, mqtt_extra="  username: bridge\n  password: right\n"
        )
        done = cli("check", "-c", str(right), "--online")
        assert done.returncode == 0, done.stdout
        assert (
            f"broker 127.0.0.1:{broker.port}: connected, login accepted (mqtt.username 'bridge')"
        ) in done.stdout.splitlines()
    finally:
        broker.kill()
