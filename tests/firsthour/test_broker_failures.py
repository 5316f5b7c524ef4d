"""Every broker connection failure is logged with host, port and the reason (refused, DNS, TLS,
login), rate-limited, and ``status`` shows the broker link. Against a real mosquitto on 127.0.0.1
(the "DNS" case uses a name under the reserved ``.invalid`` TLD: no lookup leaves the machine)."""

from __future__ import annotations

import json
import shutil

import certifi

from tests.support.mosquitto import Mosquitto, free_port

from ..support.cli import RunningBridge, cli, write_config

CONFIG = """\
exist:
  base_url: {url}
  token: {token}
  timezone: UTC
mqtt:
  host: {host}
  port: {port}
  client_id: firsthour-bridge
{extra}bridge:
  state_dir: {state}
mappings:
  - topic: zigbee2mqtt/coffee_button
    attribute: coffees
attributes:
  - template: coffees
"""


def config(tmp_path, mock, host="127.0.0.1", port=1883, extra=""):
    return write_config(
        tmp_path,
        CONFIG.format(
            url=mock.url,
            token=mock.token,
            host=host,
            port=port,
            extra=extra,
            state=tmp_path / "state",
        ),
    )


def test_closed_port_is_logged_and_status_shows_it(mock_exist, tmp_path):
    port = free_port()  # nothing listens there
    path = config(tmp_path, mock_exist, port=port)
    bridge = RunningBridge(path)
    try:
        line = bridge.wait_for("can't connect to the MQTT broker")
        assert f"127.0.0.1:{port}: connection refused" in line
        assert "mqtt.port" in line
        # status (the bridge records its link in the state directory)
        deadline_text = ""
        for _ in range(100):
            status = cli("status", "-c", str(path))
            deadline_text = status.stdout
            if "NOT connected" in status.stdout:
                break
        assert f"broker:          NOT connected to 127.0.0.1:{port}: connection refused" in (
            deadline_text
        )
        data = json.loads(cli("status", "-c", str(path), "--json").stdout)
        assert data["broker"]["connected"] is False
        assert data["broker"]["port"] == port
        assert "connection refused" in data["broker"]["last_error"]
        assert data["broker"]["failed_attempts"] >= 1
    finally:
        bridge.stop()


def test_unresolvable_host_names_the_host(mock_exist, tmp_path):
    path = config(tmp_path, mock_exist, host="homeassistant.invalid")
    bridge = RunningBridge(path)
    try:
        line = bridge.wait_for("can't connect to the MQTT broker")
        assert (
            "homeassistant.invalid:1883: the host name 'homeassistant.invalid' does not "
            "resolve (DNS" in line
        )
        assert "check mqtt.host" in line
    finally:
        bridge.stop()


def test_tls_against_a_plain_port(mock_exist, mosquitto, tmp_path):
    path = config(tmp_path, mock_exist, port=mosquitto.port, extra="  tls: true\n")
    bridge = RunningBridge(path)
    try:
        line = bridge.wait_for("can't connect to the MQTT broker")
        assert f"127.0.0.1:{mosquitto.port}: TLS handshake failed" in line
        assert f"is port {mosquitto.port} a TLS listener?" in line
        assert "system's CA store" in line
    finally:
        bridge.stop()


def test_tls_names_the_ca_file(mock_exist, mosquitto, tmp_path):
    ca = tmp_path / "ca.pem"
    shutil.copy(certifi.where(), ca)  # a real CA bundle (the broker isn't TLS at all)
    extra = f"  tls:\n    ca_certs: {ca}\n"
    path = config(tmp_path, mock_exist, port=mosquitto.port, extra=extra)
    bridge = RunningBridge(path)
    try:
        line = bridge.wait_for("can't connect to the MQTT broker")
        assert "TLS handshake failed" in line and f"mqtt.tls.ca_certs {ca}" in line
    finally:
        bridge.stop()


def test_a_stopped_broker_is_reported_then_the_reconnect(mock_exist, tmp_path):
    broker = Mosquitto(tmp_path / "mosquitto").start()
    path = config(tmp_path, mock_exist, port=broker.port)
    bridge = RunningBridge(path)
    try:
        bridge.wait_for(f"connected to 127.0.0.1:{broker.port}")
        broker.stop()
        bridge.wait_for("disconnected from the broker")
        line = bridge.wait_for("can't connect to the MQTT broker")
        assert f"127.0.0.1:{broker.port}: connection refused" in line
        broker.start()
        line = bridge.wait_for(
            r"connected to 127\.0\.0\.1:\d+ \(session resumed\) after \d+ "
            r"failed attempt"
        )
        assert "after" in line
    finally:
        bridge.stop()
        broker.kill()


def test_the_same_failure_is_not_logged_every_attempt(mock_exist, tmp_path):
    """Rate limit: paho retries after 1, 2, 4, 8 ... s; within the first minute the same reason is
    logged once (the retries only at debug)."""
    port = free_port()
    path = config(tmp_path, mock_exist, port=port)
    bridge = RunningBridge(path, verbose=True)
    try:
        bridge.wait_for("can't connect to the MQTT broker")
        bridge.wait_for(r"connection refused.*\(again\)")  # a second attempt, at debug
        bridge.wait_for(r"connection refused.*\(again\)")
        errors = [
            line
            for line in bridge.text().splitlines()
            if "ERROR" in line and "can't connect" in line
        ]
        assert len(errors) == 1
    finally:
        bridge.stop()


def test_a_refused_login_names_the_username(mock_exist, tmp_path):
    broker = Mosquitto(tmp_path / "mosquitto", users={"bridge": "right"}).start()
    extra = "  username: bridge\n  password: wrong\n"
    path = config(tmp_path, mock_exist, port=broker.port, extra=extra)
    bridge = RunningBridge(path)
    try:
        line = bridge.wait_for("can't connect to the MQTT broker")
        assert f"127.0.0.1:{broker.port}: the broker refused the login" in line
        assert "mqtt.username 'bridge'" in line and "mqtt.password" in line
    finally:
        bridge.stop()
        broker.kill()
