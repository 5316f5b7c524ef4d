"""docker/Dockerfile built from this checkout and run (no Docker engine: tests/support/buildah.py
builds, tests/support/container.py runs): the bridge image holds the installed wheel and nothing
of the build, runs as its non-root user on a read-only root filesystem with only /data written,
counts what a real mosquitto delivers into the mock, passes its own HEALTHCHECK and stops on
SIGTERM; the mock image serves the Exist API alone."""

from __future__ import annotations

import os
import stat
from datetime import datetime, timezone

import pytest
import requests
import yaml

from mock_exist.server import MockServer
from mqtt_bridge.config.model import BridgeSettings
from mqtt_bridge.state_dir import OUTBOX_FILE

from ..support.buildah import VERSION
from ..support.config import COFFEE_FRIDGE_ATTRIBUTES, COFFEE_FRIDGE_MAPPINGS, Env, bridge_config
from ..support.container import Container, Mount, installed
from ..support.mosquitto import Mosquitto
from ..support.mqtt import Publisher
from ..support.net import free_port
from ..support.waiting import wait_until

pytestmark = pytest.mark.slow  # builds images (minutes), runs containers, a broker and the mock

USER = "10001:10001"  # docker/Dockerfile's non-root user


def test_the_bridge_image_holds_the_installed_wheel_and_nothing_of_the_build(
    buildah, bridge_image, tmp_path
):
    config = buildah.config(bridge_image)
    assert config["User"] == USER
    assert config["Entrypoint"] == ["exist-bridge"]
    assert config["Cmd"] == ["run", "--config", "/config/bridge.yaml"]
    assert config["WorkingDir"] == "/data"
    assert config["Healthcheck"]["Test"][:3] == ["CMD", "exist-bridge", "status"]
    holds = installed(
        buildah, bridge_image, tmp_path / "probe.log", ("yaml", "flask", "mock_exist")
    )
    assert holds.version == f"exist-bridge {VERSION}"
    assert holds.module.startswith("/usr/local/lib/python3"), holds  # installed, not a checkout
    # a dependency imports; Flask and the emulator don't: the bridge's distribution alone
    assert holds.importable == ("yaml",)
    assert holds.build_files == ()


def _today() -> str:
    return datetime.now(timezone.utc).date().isoformat()


def test_the_bridge_image_runs_as_its_user_on_a_read_only_root(buildah, bridge_image, tmp_path):
    """As docker/compose.yaml runs it: the configuration read-only in /config, the state in a
    host directory chowned to 10001 on /data, the token from the environment."""
    broker = Mosquitto(tmp_path / "broker").start()
    mock = MockServer().start()
    try:
        data, conf = tmp_path / "data", tmp_path / "config"
        data.mkdir()
        conf.mkdir()
        os.chown(data, 10001, 10001)
        http_port = free_port()
        text = bridge_config(
            url=mock.url,
            token=Env("EXIST_TOKEN"),
            port=broker.port,
            state_dir="/data",
            attributes=COFFEE_FRIDGE_ATTRIBUTES,
            mappings=COFFEE_FRIDGE_MAPPINGS,
            client_id="bridge-image",
            delay=1,
        )
        http = {"http": {"enabled": True, "host": "127.0.0.1", "port": http_port}}
        (conf / "bridge.yaml").write_text(text + yaml.safe_dump(http))
        with Container(
            buildah,
            bridge_image,
            log=tmp_path / "bridge.log",
            mounts=(Mount(data, "/data"), Mount(conf, "/config", read_only=True)),
            env={"EXIST_TOKEN": mock.token},
            read_only=True,
        ) as bridge:
            wait_until(
                lambda: "subscribed to" in bridge.output() or not bridge.running(),
                timeout=60,
                message=bridge.output,
            )
            assert bridge.running(), bridge.output()
            devices = Publisher(broker.port)
            try:
                for press in ("single", "double", "single"):
                    devices.publish("zigbee2mqtt/coffee_button", {"action": press})
                for contact in (True, False, True, False):
                    devices.publish("zigbee2mqtt/kitchen/fridge", {"contact": contact})
            finally:
                devices.close()
            wait_until(
                lambda: (
                    mock.state.value("coffees", _today()) == 2
                    and mock.state.value("fridge_opens", _today()) == 2
                ),
                timeout=60,
                message=bridge.output,
            )
            live = requests.get(f"http://127.0.0.1:{http_port}/livez", timeout=5)
            assert live.status_code == 200, live.text

            # the image's own HEALTHCHECK, run as Docker runs it (as the user, in /data)
            health = bridge.exec(bridge.config["Healthcheck"]["Test"][1:])
            assert health.returncode == 0, health.stdout + health.stderr

            # the root is really read-only: not even root can write there, nor in /tmp
            probe = bridge.exec(["sh", "-c", "touch /probe || touch /tmp/probe"], as_root=True)
            assert probe.returncode != 0
            assert "Read-only file system" in probe.stderr, probe.stderr

            code, seconds = bridge.stop(timeout=BridgeSettings().stop_timeout + 10)
        assert code == 0, bridge.output()
        assert seconds < BridgeSettings().stop_timeout, seconds
        assert "Traceback" not in bridge.output()
        # what it wrote is in /data, as its user (the outbox holds the day's totals)
        written = list(data.rglob("*"))
        assert data / OUTBOX_FILE in written
        assert all(p.stat().st_uid == 10001 for p in written), [
            (p.name, p.stat().st_uid) for p in written
        ]
    finally:
        mock.stop()
        broker.kill()


TOKEN = "0123456789abcdef0123456789abcdef01234567"


def test_the_mock_image_serves_the_exist_api_alone(buildah, mock_image, tmp_path):
    config = buildah.config(mock_image)
    assert config["User"] == USER
    assert config["Entrypoint"] == ["mock-exist"]
    data = tmp_path / "data"
    data.mkdir()
    os.chown(data, 10001, 10001)
    port = free_port()
    command = (
        *config["Entrypoint"],
        *("--host", "127.0.0.1", "--port", str(port)),
        *("--token", TOKEN, "--admin-token", "s3cret", "--state", "/data/state.json"),
    )
    with Container(
        buildah,
        mock_image,
        log=tmp_path / "mock.log",
        mounts=(Mount(data, "/data"),),
        read_only=True,
        command=command,
    ) as mock:
        url = f"http://127.0.0.1:{port}"

        def health() -> bool:
            try:
                return requests.get(url + "/_mock/health", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False

        wait_until(lambda: health() or not mock.running(), timeout=60, message=mock.output)
        answer = requests.get(
            url + "/api/2/attributes/", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5
        )
        assert answer.status_code == 200, answer.text
        assert "results" in answer.json()
        refused = requests.get(url + "/api/2/attributes/", timeout=5)
        assert refused.status_code == 401
        no_bridge = mock.exec(["python", "-c", "import mqtt_bridge"])
        assert no_bridge.returncode != 0 and "ModuleNotFoundError" in no_bridge.stderr
        code, seconds = mock.stop(timeout=10)
    assert code == 0, mock.output()
    assert seconds < 5
    state = data / "state.json"
    assert state.exists() and stat.S_ISREG(state.stat().st_mode)
    assert state.stat().st_uid == 10001
