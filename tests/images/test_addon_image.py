"""The add-on's image (exist-bridge/Dockerfile) built from this checkout and run as the
Supervisor starts it: ``/data/options.json`` and ``/config`` mounted, ``$SUPERVISOR_TOKEN`` set, the
broker's credentials asked from a fake Supervisor (tests/support/supervisor.py), a real mosquitto
that refuses anonymous clients and the mock Exist. Values published on MQTT land in the mock,
/livez answers 200, and SIGTERM stops it within the add-on's ``timeout``.

Three things differ from the Supervisor, said where they happen: the base is the stand-in (no
s6-overlay ``/init``, so ``exist-bridge addon`` is PID 1 itself); the container shares the
host's network, so the Supervisor's address, Exist's and the HTTP port (8099 in the add-on's own
network) are given as flags appended to the image's command, on free loopback ports.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
import requests
import yaml

from mock_exist.server import MockServer
from mqtt_bridge.state_dir import OUTBOX_FILE

from ..support.buildah import ARCH, ROOT, VERSION, BuildError
from ..support.container import Container, Mount, installed
from ..support.mosquitto import Mosquitto
from ..support.mqtt import Publisher
from ..support.net import free_port
from ..support.supervisor import FakeSupervisor, mqtt_service
from ..support.waiting import wait_until

pytestmark = pytest.mark.slow  # builds an image (minutes), runs it, a broker and the mock

ADDON = ROOT / "exist-bridge"
SUPERVISOR_TOKEN = "supervisor-token-for-the-addon-image"
LOGIN = ("addons", "Iey7aifo-broker-pw")
MAPPINGS = """\
attributes:
  - template: steps
  - name: door_opens
    label: Door opens
    group: events
    value_type: 0
mappings:
  - topic: zigbee2mqtt/front_door
    attribute: door_opens
    json_path: contact
    edge: {from: true, to: false}
  - topic: homeassistant/sensor/steps/state
    attribute: steps
    mode: update
"""


def addon_config() -> dict:
    return yaml.safe_load((ADDON / "config.yaml").read_text(encoding="utf-8"))


def test_the_addon_image_installs_this_checkouts_wheel(buildah, addon_image, tmp_path):
    config = buildah.config(addon_image)
    labels = config["Labels"]
    meta = addon_config()
    assert labels["io.hass.version"] == VERSION == meta["version"]
    assert labels["io.hass.arch"] == ARCH and ARCH in meta["arch"]
    assert labels["io.hass.type"] == "app"
    assert (labels["io.hass.name"], labels["io.hass.url"]) == (meta["name"], meta["url"])
    assert labels["io.hass.description"] == meta["description"]
    assert config["Cmd"] == ["exist-bridge", "addon"]
    assert config["Healthcheck"]["Test"][-1] == "http://127.0.0.1:8099/livez"
    holds = installed(buildah, addon_image, tmp_path / "probe.log", ("yaml", "flask", "mock_exist"))
    assert holds.version == f"exist-bridge {VERSION}"
    assert holds.module.startswith("/usr/local/lib/python3"), holds  # installed, not a checkout
    assert holds.importable == ("yaml",)  # a dependency, not Flask nor the emulator
    assert holds.build_files == ()


@pytest.mark.parametrize(
    ("arg", "value", "expected"),
    [
        ("BUILD_VERSION", "0.0.0-elsewhere", f"this checkout is {VERSION}"),
        ("BUILD_ARCH", "i386", f"this machine is {ARCH}"),
    ],
)
def test_the_addon_build_refuses_labels_that_would_lie(
    buildah, addon_build_args, arg, value, expected
):
    with pytest.raises(BuildError) as refused:
        buildah.build(
            "addon-refused", ADDON / "Dockerfile", build_args={**addon_build_args, arg: value}
        )
    said = f"{arg} is '{value}', {expected}: build with --build-arg {arg}="
    assert said in str(refused.value), refused.value.log


def _today() -> str:
    return datetime.now(timezone.utc).date().isoformat()


class World:
    """What the Supervisor gives the add-on: its folders, options, token and MQTT service."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.broker = Mosquitto(tmp_path / "broker", users=dict([LOGIN])).start()
        self.mock = MockServer().start()
        self.supervisor = FakeSupervisor(
            SUPERVISOR_TOKEN, mqtt_service("127.0.0.1", self.broker.port, *LOGIN)
        ).__enter__()
        self.data, self.config = tmp_path / "data", tmp_path / "config"
        self.data.mkdir()
        self.config.mkdir()
        options = {
            **addon_config()["options"],
            "exist_token": self.mock.token,
            "timezone": "UTC",
            "event_delay": 1,
            "total_delay": 1,
        }
        (self.data / "options.json").write_text(json.dumps(options))
        self.http_port = free_port()

    def container(self, buildah, image: str, log: str) -> Container:
        return Container(
            buildah,
            image,
            log=self.tmp / log,
            mounts=(Mount(self.data, "/data"), Mount(self.config, "/config")),
            env={"SUPERVISOR_TOKEN": SUPERVISOR_TOKEN},
            # the host's network: the addresses the add-on's own network would give
            args=(
                *("--supervisor-url", self.supervisor.url, "--exist-base-url", self.mock.url),
                *("--http-host", "127.0.0.1", "--http-port", str(self.http_port)),
            ),
        )

    def close(self) -> None:
        self.supervisor.__exit__()
        self.mock.stop()
        self.broker.kill()


def test_the_addon_image_runs_as_the_supervisor_starts_it(buildah, addon_image, tmp_path):
    world = World(tmp_path)
    try:
        # first start: no mappings file yet, the add-on writes the commented starter and stops
        with world.container(buildah, addon_image, "first.log") as first:
            assert first.wait(60) == 1, first.output()
        starter = world.config / "exist-bridge.yaml"
        assert "wrote a starter mappings file to /config/exist-bridge.yaml" in first.output()
        assert starter.is_file() and "mappings" in starter.read_text()
        assert world.supervisor.requests == [("/services/mqtt", f"Bearer {SUPERVISOR_TOKEN}")]

        starter.write_text(MAPPINGS)
        with world.container(buildah, addon_image, "addon.log") as addon:
            wait_until(
                lambda: "subscribed to" in addon.output() or not addon.running(),
                timeout=60,
                message=addon.output,
            )
            assert addon.running(), addon.output()
            devices = Publisher(world.broker.port, login=LOGIN)
            try:
                for contact in (True, False, False, True, False):
                    devices.publish("zigbee2mqtt/front_door", {"contact": contact})
                for total in ("800", "4711"):
                    devices.publish("homeassistant/sensor/steps/state", total)
            finally:
                devices.close()
            wait_until(
                lambda: (
                    world.mock.state.value("door_opens", _today()) == 2
                    and world.mock.state.value("steps", _today()) == 4711
                ),
                timeout=60,
                message=addon.output,
            )
            live = requests.get(f"http://127.0.0.1:{world.http_port}/livez", timeout=5)
            assert live.status_code == 200, live.text
            assert live.json()["status"] == "alive"

            timeout = addon_config()["timeout"]  # the Supervisor's docker stop -t
            code, seconds = addon.stop(timeout=timeout)
        assert code == 0, addon.output()
        assert seconds < timeout, seconds
        log = addon.output()
        assert "Traceback" not in log
        assert LOGIN[1] not in log and world.mock.token not in log
        assert (world.data / OUTBOX_FILE).is_file()  # the state is in /data
    finally:
        world.close()
