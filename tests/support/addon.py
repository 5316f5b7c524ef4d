"""The Home Assistant add-on as a process for the tests: ``exist-bridge addon`` with its options
and data in a work folder, a fake Supervisor (the only source of the broker's credentials), a
real mosquitto that refuses anonymous clients, and the mock Exist over real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import requests

from mock_exist.server import MockServer

from .mosquitto import Mosquitto
from .net import free_port
from .supervisor import FakeSupervisor, mqtt_service

SUPERVISOR_TOKEN = "supervisor-token-for-the-addon"
MQTT_USER, MQTT_PASSWORD = "addons", "Ohqu8ahm-broker-pw"


def wait_for(what: str, predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except (requests.RequestException, OSError) as err:
            last = err
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def healthz_until(addon, code: int) -> requests.Response:
    """/healthz's answer once it is ``code`` (a 503 response is falsy: wrapped in a list)."""

    def ask() -> list[requests.Response] | None:
        r = requests.get(addon.url + "/healthz", timeout=5)
        return [r] if r.status_code == code else None

    return wait_for(f"/healthz {code}", ask)[0]


def addon_command(work: Path, supervisor: str, mock: str, http_port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "mqtt_bridge.cli",
        "addon",
        "--options",
        str(work / "data" / "options.json"),
        "--data-dir",
        str(work / "data"),
        "--config-dir",
        str(work / "config"),
        "--supervisor-url",
        supervisor,
        "--http-host",
        "127.0.0.1",
        "--http-port",
        str(http_port),
        "--exist-base-url",
        mock,
    ]


class Addon:
    """Everything the add-on needs, and the add-on itself once ``start()``ed."""

    def __init__(self, work: Path):
        self.work = work
        self.broker = Mosquitto(work / "broker", users={MQTT_USER: MQTT_PASSWORD}).start()
        self.mock = MockServer().start()
        self.supervisor = FakeSupervisor(
            SUPERVISOR_TOKEN, mqtt_service("127.0.0.1", self.broker.port, MQTT_USER, MQTT_PASSWORD)
        ).__enter__()
        (work / "data").mkdir(parents=True)
        options = {
            "exist_token": self.mock.token,
            "log_level": "debug",
            "timezone": "UTC",
            "event_delay": 1,
            "total_delay": 1,
            "mappings_file": "exist-bridge.yaml",
            "mqtt_discovery": True,
        }
        (work / "data" / "options.json").write_text(json.dumps(options))
        self.http_port = free_port()
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.proc: subprocess.Popen | None = None
        self.log = work / "addon.log"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("MQTT")},
            "SUPERVISOR_TOKEN": SUPERVISOR_TOKEN,
        }

    def command(self) -> list[str]:
        return addon_command(self.work, self.supervisor.url, self.mock.url, self.http_port)

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, env=self.env
            )

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.supervisor.__exit__()
        self.mock.stop()
        self.broker.kill()
