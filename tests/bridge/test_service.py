"""The running service: availability and last will, status topic, discovery, broker restarts,
starting with the broker or Exist down, SIGTERM, and the run/check/status commands."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading

import pytest

from mqtt_bridge.cli import run as cli_run
from mqtt_bridge.config import parse_config
from mqtt_bridge.service import Bridge

from ..support.bridge import BRIDGE_CMD, status_check
from ..support.config import button_config
from ..support.days import today
from ..support.mosquitto import Mosquitto
from ..support.mqtt import Publisher, Watcher, wait_subscribed
from ..support.net import free_port
from ..support.outbox_runs import committed
from ..support.waiting import wait_until


def press(pub: Publisher, n: int, button: str = "kitchen") -> None:
    for _ in range(n):
        pub.publish(f"button/{button}/action", {"action": "single", "battery": 90})


def start(mock, port, tmp_path, **kwargs) -> Bridge:
    bridge = Bridge(parse_config(button_config(mock, port, tmp_path, **kwargs)))
    bridge.start()
    return bridge


@pytest.mark.slow
def test_availability_status_and_discovery(mock_exist, mosquitto, tmp_path):
    watcher = Watcher(mosquitto.port, ["exist-bridge/#", "homeassistant/#"])
    bridge = start(mock_exist, mosquitto.port, tmp_path, discovery="true")
    try:
        wait_until(lambda: watcher.payload("exist-bridge/availability") == b"online")
        config_topic = "homeassistant/binary_sensor/bridge_svc/connected/config"
        wait_until(lambda: watcher.payload(config_topic) is not None)
        discovery = json.loads(watcher.payload(config_topic))
        assert discovery["state_topic"] == "exist-bridge/availability"
        assert discovery["payload_off"] == "offline"
        bridge.exist.bootstrap()
        pub = Publisher(mosquitto.port)
        press(pub, 2)
        pub.close()
        wait_until(lambda: bridge.outbox.counters().get("events", 0) == 2)
        bridge.flusher.flush_once()
        # (a status is also published on connect: wait for the flush's)
        wait_until(lambda: b'"events": 2' in (watcher.payload("exist-bridge/status") or b""))
        status = json.loads(watcher.payload("exist-bridge/status"))
        assert status["pending_rows"] == 0 and status["counters"]["events"] == 2
        assert status["budget_left"] == 280 - 3 and status["connected"] is True
    finally:
        bridge.stop()
    wait_until(lambda: watcher.payload("exist-bridge/availability") == b"offline")
    watcher.close()
    assert mock_exist.state.value("coffees", today()) == 2


@pytest.mark.slow
def test_last_will_says_offline_when_the_process_dies(mock_exist, mosquitto, tmp_path):
    cfg = tmp_path / "bridge.yaml"
    cfg.write_text(button_config(mock_exist, mosquitto.port, tmp_path))
    proc = subprocess.Popen(
        [*BRIDGE_CMD, "run", "-c", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    watcher = Watcher(mosquitto.port, ["exist-bridge/availability"])
    try:
        wait_until(lambda: watcher.payload("exist-bridge/availability") == b"online")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        wait_until(lambda: watcher.payload("exist-bridge/availability") == b"offline")
    finally:
        proc.kill()
        watcher.close()


@pytest.mark.slow
def test_broker_restart_reconnects_resubscribes_and_loses_nothing(mock_exist, mosquitto, tmp_path):
    bridge = start(mock_exist, mosquitto.port, tmp_path)
    try:
        bridge.exist.bootstrap()
        wait_subscribed(bridge.link)
        pub = Publisher(mosquitto.port)
        press(pub, 3)
        pub.close()
        wait_until(lambda: bridge.outbox.counters().get("events", 0) == 3)
        connects = bridge.link.connects
        mosquitto.restart()  # sessions persist in mosquitto's own database
        wait_until(lambda: bridge.link.connects > connects, timeout=30)
        wait_subscribed(bridge.link)
        pub = Publisher(mosquitto.port)
        press(pub, 4)
        pub.close()
        wait_until(lambda: bridge.outbox.counters().get("events", 0) == 7)
        bridge.flusher.flush_once()
        assert mock_exist.state.value("coffees", today()) == 7
    finally:
        bridge.stop()


@pytest.mark.slow
def test_messages_published_while_the_bridge_is_down_are_delivered_later(
    mock_exist, mosquitto, tmp_path
):
    bridge = start(mock_exist, mosquitto.port, tmp_path)
    bridge.exist.bootstrap()
    wait_subscribed(bridge.link)
    bridge.stop()  # the persistent session keeps the subscription in the broker
    pub = Publisher(mosquitto.port)
    press(pub, 5)
    pub.close()
    bridge = start(mock_exist, mosquitto.port, tmp_path)
    try:
        wait_until(lambda: bridge.outbox.counters().get("events", 0) == 5)
        bridge.flusher.flush_once()
        assert mock_exist.state.value("coffees", today()) == 5
    finally:
        bridge.stop()


@pytest.mark.slow
def test_starts_while_the_broker_is_down_and_connects_when_it_comes(mock_exist, tmp_path):
    port = free_port()
    bridge = start(mock_exist, port, tmp_path)
    broker = Mosquitto(tmp_path / "late-broker", port=port)
    try:
        wait_until(lambda: bridge.link.link_status()["failed_attempts"] >= 1)  # it tried
        assert not bridge.link.connected
        broker.start()
        wait_subscribed(bridge.link)
        bridge.exist.bootstrap()
        pub = Publisher(port)
        press(pub, 2)
        pub.close()
        wait_until(lambda: bridge.outbox.counters().get("events", 0) == 2)
        bridge.flusher.flush_once()
        assert mock_exist.state.value("coffees", today()) == 2
    finally:
        bridge.stop()
        broker.kill()


@pytest.mark.slow
def test_exist_down_then_back_delivers_everything(mock_exist, mosquitto, tmp_path):
    bridge = start(mock_exist, mosquitto.port, tmp_path, interval=1)
    try:
        wait_until(lambda: mock_exist.state.attribute("coffees") is not None)  # bootstrapped
        mock_exist.state.add_fault("/api/2/*", status=503, count=None)
        wait_until(lambda: bridge.link.connected)
        pub = Publisher(mosquitto.port)
        press(pub, 6)
        pub.close()
        wait_until(lambda: bridge.outbox.counters().get("events", 0) == 6)
        # a flush meets the outage (bootstrap was before the fault rule)
        wait_until(lambda: mock_exist.state.journal("/api/2/attributes/", status="503"))
        assert mock_exist.state.value("coffees", today()) is None
        assert bridge.outbox.status()["pending_rows"] == 1
        mock_exist.state.clear_faults()
        wait_until(lambda: mock_exist.state.value("coffees", today()) == 6, timeout=60)
    finally:
        bridge.stop()


@pytest.mark.slow
def heartbeat(state_dir) -> dict:
    """The bridge's health.json (empty while it has none, or while it is being replaced)."""
    try:
        return json.loads((state_dir / "health.json").read_text())
    except (OSError, ValueError):
        return {}


def test_sigterm_sends_what_was_received_before_exiting(mock_exist, mosquitto, tmp_path):
    cfg = tmp_path / "bridge.yaml"
    cfg.write_text(button_config(mock_exist, mosquitto.port, tmp_path))  # flush every hour
    proc = subprocess.Popen(
        [*BRIDGE_CMD, "run", "-c", str(cfg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        wait_until(lambda: any("subscribed to" in line for line in output))
        wait_until(lambda: mock_exist.state.attribute("coffees") is not None)
        pub = Publisher(mosquitto.port)
        press(pub, 3)
        pub.close()
        wait_until(lambda: committed(tmp_path / "state") == 3)  # in the bridge's outbox
        # the heartbeat records the broker link at the main loop's next turn (every 0.5 s):
        # a check in between reads the heartbeat written before the link came up
        wait_until(lambda: heartbeat(tmp_path / "state").get("broker_connected") is True)
        health = status_check(cfg)  # the health check a container runs
        assert health.returncode == 0, health.stderr
        assert "health:          ok" in health.stdout
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        reader.join(10)  # its last lines may still be in the pipe when the process has exited
    finally:
        proc.kill()
    assert mock_exist.state.value("coffees", today()) == 3
    assert any("stopped" in line for line in output)
    stopped = status_check(cfg)
    assert stopped.returncode == 1 and "unhealthy: the bridge has stopped" in stopped.stderr


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_a_first_start_that_waits_for_exist(sig, tmp_path):
    """No timezone configured or remembered and Exist unreachable: start-up waits for the
    profile, and SIGTERM / Ctrl-C must still end it at once (not only SIGKILL)."""
    cfg = tmp_path / "bridge.yaml"
    cfg.write_text(
        button_config(
            None,
            free_port(),
            tmp_path,
            interval=60,
            timezone=None,
            url=f"http://127.0.0.1:{free_port()}",
            token="a" * 40,
        )
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "mqtt_bridge.cli", "run", "-c", str(cfg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        wait_until(
            lambda: any("waiting for the Exist profile" in line for line in output), timeout=60
        )
        proc.send_signal(sig)
        assert proc.wait(15) == 0
        reader.join(10)  # its last lines may still be in the pipe when the process has exited
    finally:
        proc.kill()
    assert any("stopped during start-up" in line for line in output), output


@pytest.mark.slow
def test_health_check_needs_a_fresh_heartbeat_and_the_broker(mock_exist, tmp_path):
    from mqtt_bridge.state_dir import HEALTH_FILE

    broker = Mosquitto(tmp_path / "broker").start()
    cfg = tmp_path / "bridge.yaml"
    cfg.write_text(button_config(mock_exist, broker.port, tmp_path))
    bridge = start(mock_exist, broker.port, tmp_path)
    try:
        never = status_check(cfg)
        assert never.returncode == 1 and "no heartbeat yet" in never.stderr
        wait_until(lambda: bridge.link.connected)
        bridge.write_health()
        assert status_check(cfg).returncode == 0
        as_json = json.loads(status_check(cfg, "--json").stdout)
        assert as_json["healthy"] is True and as_json["health_problem"] is None
        broker.stop()
        wait_until(lambda: not bridge.link.connected)
        bridge.write_health()
        cut_off = status_check(cfg)
        assert cut_off.returncode == 1
        assert "not connected to the MQTT broker" in cut_off.stderr
        broker.start()
        wait_until(lambda: bridge.link.connected, timeout=30)
        bridge.write_health()
        assert status_check(cfg).returncode == 0
        health_file = tmp_path / "state" / HEALTH_FILE
        beat = json.loads(health_file.read_text())
        health_file.write_text(json.dumps({**beat, "at": beat["at"] - 120}))  # a hung process
        stale = status_check(cfg)
        age = re.search(r"last heartbeat is (\d+)s old", stale.stderr)
        assert stale.returncode == 1 and age, stale.stderr
        assert int(age.group(1)) >= 120  # and more if the check itself was slow to start
        assert status_check(cfg, "--max-age", "300").returncode == 0
    finally:
        bridge.stop()
        broker.stop()


def test_check_reports_every_problem_with_its_line(tmp_path, capsys):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(
        "exist:\n  token: abc\n  timezone: Mars/Base\nmqtt:\n  port: 99999\n"
        "mappings:\n  - topic: a/#/b\n    attribute: Coffees\n"
    )
    import io

    out, err = io.StringIO(), io.StringIO()
    assert cli_run(["check", "-c", str(cfg)], out, err) == 1
    text = err.getvalue()
    for line, key in [
        (3, "exist.timezone"),
        (5, "mqtt.port"),
        (7, "mappings[0].topic"),
        (8, "mappings[0].attribute"),
    ]:
        assert f"bad.yaml:{line}: {key}" in text, text
    assert "Traceback" not in text


def test_check_accepts_a_good_config(mock_exist, tmp_path):
    import io

    cfg = tmp_path / "good.yaml"
    cfg.write_text(button_config(mock_exist, 1883, tmp_path))
    out, err = io.StringIO(), io.StringIO()
    assert cli_run(["check", "-c", str(cfg)], out, err) == 0
    assert "OK (1 mapping(s), 1 attribute(s)" in out.getvalue()


@pytest.mark.slow
def test_status_shows_pending_budget_and_dead_letters(mock_exist, mosquitto, tmp_path):
    import io

    bridge = start(mock_exist, mosquitto.port, tmp_path)
    try:
        bridge.exist.bootstrap()
        wait_subscribed(bridge.link)
        pub = Publisher(mosquitto.port)
        press(pub, 2)
        pub.publish("button/kitchen/action", b"\xff\xfe not text")
        pub.close()
        wait_until(lambda: bridge.outbox.counters().get("messages", 0) == 3)
    finally:
        bridge.stop()  # sends the 2 presses
    cfg = tmp_path / "bridge.yaml"
    cfg.write_text(button_config(mock_exist, mosquitto.port, tmp_path))
    out, err = io.StringIO(), io.StringIO()
    assert cli_run(["status", "-c", str(cfg)], out, err) == 0, err.getvalue()
    text = out.getvalue()
    assert "pending totals:  0 (of 1 tracked)" in text
    assert "requests left this hour" in text
    assert "dead letters:    1 (not_utf8: 1)" in text
    out = io.StringIO()
    assert cli_run(["status", "-c", str(cfg), "--json"], out, err) == 0
    assert json.loads(out.getvalue())["counters"]["events"] == 2


def test_run_with_an_unusable_state_dir_is_a_clear_error(mock_exist, tmp_path):
    import io

    (tmp_path / "state").write_text("not a directory")
    cfg = tmp_path / "bridge.yaml"
    cfg.write_text(button_config(mock_exist, 1883, tmp_path))
    out, err = io.StringIO(), io.StringIO()
    assert cli_run(["run", "-c", str(cfg)], out, err) == 1
    assert "cannot use the state database" in err.getvalue()
    assert "Traceback" not in err.getvalue()


@pytest.mark.parametrize("args", [["run"], ["check", "-c", "/nonexistent.yaml"]])
def test_usage_errors(args, capsys):
    import io

    out, err = io.StringIO(), io.StringIO()
    assert cli_run(args, out, err) in (1, 2)
    assert "Traceback" not in err.getvalue()


@pytest.mark.slow
def test_two_bridges_cannot_share_a_state_directory(mock_exist, mosquitto, tmp_path):
    import io

    from mqtt_bridge.state_dir import StateDirInUse

    first = start(mock_exist, mosquitto.port, tmp_path)
    try:
        with pytest.raises(StateDirInUse, match="in use by another running bridge"):
            Bridge(parse_config(button_config(mock_exist, mosquitto.port, tmp_path)))
        cfg = tmp_path / "bridge.yaml"
        cfg.write_text(button_config(mock_exist, mosquitto.port, tmp_path))
        out, err = io.StringIO(), io.StringIO()
        assert cli_run(["run", "-c", str(cfg)], out, err) == 1
        assert f"pid {__import__('os').getpid()}" in err.getvalue()
        assert "own bridge.state_dir" in err.getvalue() and "Traceback" not in err.getvalue()
    finally:
        first.stop()
    second = Bridge(parse_config(button_config(mock_exist, mosquitto.port, tmp_path)))  # free now
    second.stop()


def test_verbose_is_accepted_before_or_after_the_command(mock_exist, tmp_path):
    import io

    cfg = tmp_path / "good.yaml"
    cfg.write_text(button_config(mock_exist, 1883, tmp_path))
    for argv in (["-v", "check", "-c", str(cfg)], ["check", "-c", str(cfg), "-v"]):
        out, err = io.StringIO(), io.StringIO()
        assert cli_run(argv, out, err) == 0, err.getvalue()
    out, err = io.StringIO(), io.StringIO()
    assert cli_run(["check", "-c", str(cfg), "--bogus"], out, err) == 2
