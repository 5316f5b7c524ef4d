"""Hints that lead somewhere (issue 24, item 6): a dry run's and the demo's bad-input warnings
don't send the reader to `exist-bridge status` (which has nothing of theirs); the add-on offers
its own options (`mqtt_topic_prefix`, the mqtt_* options instead of an `mqtt:` key), says where
an untouched starter file's examples are, and says which options set the broker."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time

import pytest

from mqtt_bridge import cli

from ..support.cli import RunningBridge
from ..support.config import write_bridge_config
from ..support.mqtt import Publisher
from ..support.net import free_port
from ..support.waiting import wait_until

STATUS = "see `exist-bridge status`"


def publish(port: int, topic: str, payload: str) -> None:
    publisher = Publisher(port, client_id="hint-pub")
    try:
        publisher.publish(topic, payload)
    finally:
        publisher.close()


def test_a_dry_runs_bad_input_warning_points_to_test(mosquitto, tmp_path):
    path = write_bridge_config(
        tmp_path / "bridge.yaml",
        mappings=[{"topic": "door", "attribute": "coffees", "json_path": "contact"}],
        attributes=[{"template": "coffees"}],
        state_dir=tmp_path / "state",
        url="http://127.0.0.1:9",
        token="t",
        port=mosquitto.port,
    )
    dry = RunningBridge(path, "--dry-run")
    try:
        dry.wait_for("subscribed to")
        publish(mosquitto.port, "door", "{not json")
        line = dry.wait_for("not_json on door")
    finally:
        assert dry.stop() == 0
    assert STATUS not in line
    assert line.endswith("a dry run keeps no dead letters: `exist-bridge test -c FILE -t TOPIC "
                         "-m PAYLOAD` shows what each mapping makes of a message)")  # fmt: skip


@pytest.mark.slow  # the demo starts mosquitto
def test_the_demos_warning_points_to_its_screen(monkeypatch, caplog):
    from exist_demo import demo

    # a seed whose first message is the devices' corrupt one: the warning comes at once
    monkeypatch.setattr(demo.Devices.__init__, "__defaults__", (36,))
    out, err = io.StringIO(), io.StringIO()
    code = cli.run(["demo", "--duration", "4", "--delay", "2", "--broker", "mosquitto"], out, err)
    assert code == 0, out.getvalue() + err.getvalue()
    assert "(1 deliberately corrupt)" in out.getvalue()
    warnings = [r.getMessage() for r in caplog.records if "not_json on" in r.getMessage()]
    assert warnings, [r.getMessage() for r in caplog.records]
    assert all(STATUS not in line for line in warnings)
    assert warnings[0].endswith("counted as bad on this screen (the demo keeps no state after))")


# ------------------------------------------------------------------------------ the add-on


def addon(tmp_path, options: dict, mappings: str | None) -> list[str]:
    """``exist-bridge addon`` on a fake options file, its broker from ``mqtt_host``."""
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "config").mkdir(exist_ok=True)
    (tmp_path / "data" / "options.json").write_text(
        json.dumps({"exist_token": "t", "mappings_file": "bridge.yaml", **options})
    )
    if mappings is not None:
        (tmp_path / "config" / "bridge.yaml").write_text(mappings)
    return [
        sys.executable, "-m", "mqtt_bridge.cli", "addon",
        "--options", str(tmp_path / "data" / "options.json"),
        "--data-dir", str(tmp_path / "data"), "--config-dir", str(tmp_path / "config"),
        "--supervisor-url", "http://127.0.0.1:9",
        "--http-host", "127.0.0.1", "--http-port", str(free_port()),
    ]  # fmt: skip


def once(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_an_untouched_starter_says_where_its_examples_are(tmp_path):
    done = once(addon(tmp_path, {"mqtt_host": "127.0.0.1"}, None))
    assert done.returncode == 1
    starter = tmp_path / "config" / "bridge.yaml"
    line = next(
        n for n, x in enumerate(starter.read_text().splitlines(), 1) if "# attributes:" in x
    )
    assert (
        f"{starter}:{line}: no mappings yet: uncomment the examples from line {line} on (remove "
        "the '# ' in front of each line) and edit them for your devices, then restart the add-on"
    ) in done.stderr
    assert "required key is missing" not in done.stderr


def test_an_mqtt_key_in_the_mappings_file_offers_the_options(tmp_path):
    text = "mqtt: {topic_prefix: kitchen}\nmappings: [{topic: a, attribute: coffees}]\n"
    done = once(addon(tmp_path, {"mqtt_host": "127.0.0.1"}, text))
    assert done.returncode == 1
    assert "'mqtt' is set by the add-on (the options mqtt_host, mqtt_port" in done.stderr
    assert "mqtt_topic_prefix" in done.stderr


@pytest.fixture
def running_addon(tmp_path, mosquitto, mock_exist):
    options = {
        "mqtt_host": "127.0.0.1",
        "mqtt_port": mosquitto.port,
        "mqtt_topic_prefix": "kitchen-bridge",
        "timezone": "UTC",
    }
    command = addon(tmp_path, options, "mappings: [{topic: a, attribute: coffees}]\n")
    log = tmp_path / "addon.log"
    with log.open("wb") as sink:
        env = {**os.environ, "EXIST_BASE_URL": mock_exist.url}
        proc = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env)
    try:
        yield proc, log
    finally:
        proc.terminate()
        proc.wait(40)


def test_the_addon_says_which_options_set_the_broker_and_names_its_prefix_option(
    running_addon, mosquitto
):
    proc, log = running_addon

    def text() -> str:
        assert proc.poll() is None, log.read_text()
        return log.read_text()

    wait_until(lambda: "subscribed to" in text(), timeout=30, interval=0.1)
    [line] = [x for x in text().splitlines() if "MQTT broker 127.0.0.1" in x]
    assert line.endswith(f"MQTT broker 127.0.0.1:{mosquitto.port}, from the add-on options "
                         "mqtt_host, mqtt_port")  # fmt: skip
    assert "overridden" not in line
    # another bridge's status on the same topic prefix: the warning names the add-on's option
    status = {"client_id": "other-bridge", "published_at": time.time()}
    publish(mosquitto.port, "kitchen-bridge/status", json.dumps(status))
    wait_until(lambda: "publishes its status on kitchen-bridge/status" in text(), timeout=30)
    [warning] = [x for x in text().splitlines() if "publishes its status on" in x]
    assert warning.endswith("give each its own add-on option `mqtt_topic_prefix`")
    assert not re.search(r"mqtt\.topic_prefix", warning)
