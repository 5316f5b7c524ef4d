"""A real Home Assistant Core for the tests: installed once into a virtualenv cached under the
temporary folder (keyed by its version), started on a free loopback port with a minimal
configuration (the recorder on SQLite in the test's folder), an owner made through the
onboarding API, and statistics imported with ``recorder/import_statistics``.

Home Assistant 2024.3.3 is the newest release that runs on Python 3.11. A plain ``pip install``
of it now resolves ``josepy`` 2, which breaks ``acme``/``hass_nabucasa``: ``josepy<2`` is pinned.
It runs with ``--skip-pip``, so the requirements of the integrations it sets up (the default
ones, always set up, and those in the configuration, with their dependencies) are installed
with it, read from their manifests."""

from __future__ import annotations

import fcntl
import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
from websockets.sync.client import connect

from .net import free_port
from .waiting import wait_until

VERSION = "2024.3.3"
PINS = [f"homeassistant=={VERSION}", "josepy<2"]
# what the configuration sets up, and the integrations Home Assistant always sets up
# (bootstrap.DEFAULT_INTEGRATIONS of that version)
INTEGRATIONS = [
    "http", "api", "websocket_api", "recorder", "onboarding", "auth",
    "application_credentials", "backup", "frontend", "hardware", "logger", "network",
    "system_health", "automation", "person", "scene", "script", "tag", "zone", "counter",
    "input_boolean", "input_button", "input_datetime", "input_number", "input_select",
    "input_text", "schedule", "timer",
]  # fmt: skip
CONFIGURATION = """
homeassistant:
  name: Test
  time_zone: {timezone}
  unit_system: metric
  latitude: 52.5
  longitude: 13.4
  elevation: 0
http:
  server_host: 127.0.0.1
  server_port: {port}
recorder:
  db_url: sqlite:///{db}
  commit_interval: 0
api:
websocket_api:
onboarding:
auth:
"""


class Unavailable(Exception):
    """Home Assistant could not be installed or started here (the message says how)."""


def python311() -> str:
    """A Python 3.11 interpreter: ``python3.11``, ``python3`` if it is 3.11, or pyenv's."""
    candidates = [shutil.which("python3.11"), shutil.which("python3")]
    candidates += sorted(str(p) for p in Path.home().glob(".pyenv/versions/3.11.*/bin/python"))
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version_info[:2] == (3, 11))"],
            capture_output=True,
            text=True,
        )
        if probe.stdout.strip() == "True":
            return candidate
    raise Unavailable("no Python 3.11 (python3.11, python3 or pyenv's 3.11.x)")


def venv() -> Path:
    """The cached virtualenv with Home Assistant and its integrations' requirements, made once
    (under a lock: parallel test workers wait for the one that makes it)."""
    home = Path(tempfile.gettempdir()) / f"exist-bridge-home-assistant-{VERSION}"
    done = home / "installed"
    home.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{home}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(home, ignore_errors=True)
            _install(home)
            done.write_text(f"{VERSION}\n")
    return home


def _install(home: Path) -> None:
    started = time.monotonic()
    if _has_uv():  # it finds a Python 3.11, or fetches one (e.g. in CI's 3.13 containers)
        _run([sys.executable, "-m", "uv", "venv", "-q", "--python", "3.11", str(home)])
    else:
        _run([python311(), "-m", "venv", str(home)])
    pip = _installer(home / "bin" / "python")
    _run([*pip, *PINS])
    requirements = _requirements(home)
    _run([*pip, *requirements, *PINS])
    (home / "install-seconds").write_text(f"{time.monotonic() - started:.0f}\n")


def _has_uv() -> bool:
    return importlib.util.find_spec("uv") is not None


def _installer(python: Path) -> list[str]:
    """uv (the dev extra's; downloads in parallel: ~10 s here where pip took ~8 min), else pip."""
    if _has_uv():
        return [sys.executable, "-m", "uv", "pip", "install", "-q", "--python", str(python)]
    return [str(python), "-m", "pip", "install", "-q"]


def _requirements(home: Path) -> list[str]:
    """The requirements of ``INTEGRATIONS`` and their dependencies, from their manifests."""
    found = sorted((home / "lib").glob("python3.*/site-packages/homeassistant/components"))
    components = found[0]
    todo, seen, requirements = list(INTEGRATIONS), set(), set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        manifest = json.loads((components / name / "manifest.json").read_text())
        requirements.update(manifest.get("requirements", []))
        todo += manifest.get("dependencies", [])
    return sorted(requirements)


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise Unavailable(f"{' '.join(command)} failed ({done.returncode}):\n{tail}")


class HomeAssistant:
    """``start()`` a Home Assistant in ``folder``, then ``url``, ``token`` (an owner's access
    token), ``import_statistics()``; ``stop()``."""

    def __init__(self, folder: Path, timezone: str = "Europe/Berlin"):
        self.folder = Path(folder)
        self.timezone = timezone
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = ""
        self.process: subprocess.Popen | None = None
        self.log = self.folder / "home-assistant.log"

    def start(self, home: Path) -> HomeAssistant:
        config = self.folder / "config"
        config.mkdir(parents=True, exist_ok=True)
        (config / "configuration.yaml").write_text(
            CONFIGURATION.format(
                timezone=self.timezone, port=self.port, db=config / "home-assistant_v2.db"
            )
        )
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(
                [str(home / "bin" / "hass"), "-c", str(config), "--skip-pip"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
            )
        wait_until(self._onboarding_open, timeout=180, message=self._why_not)
        self.token = self._onboard()
        return self

    def _onboarding_open(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise Unavailable(f"hass exited ({self.process.returncode}): {self._why_not()}")
        try:
            return requests.get(f"{self.url}/api/onboarding", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def _why_not(self) -> str:
        lines = self.log.read_text(errors="replace").splitlines()
        errors = [line for line in lines if "ERROR" in line]
        return "Home Assistant did not come up; its log ends:\n" + "\n".join(
            (errors or lines)[-15:]
        )

    def _onboard(self) -> str:
        """The owner (onboarding's first step) and an access token for it."""
        client = f"{self.url}/"
        user = requests.post(
            f"{self.url}/api/onboarding/users",
            json={
                "client_id": client,
                "name": "Owner",
                "username": "owner",
                "password": "owner-password",
                "language": "en",
            },
            timeout=30,
        )
        user.raise_for_status()
        token = requests.post(
            f"{self.url}/auth/token",
            data={
                "grant_type": "authorization_code",
                "code": user.json()["auth_code"],
                "client_id": client,
            },
            timeout=30,
        )
        token.raise_for_status()
        return token.json()["access_token"]

    def websocket(self, *messages: dict[str, Any]) -> list[Any]:
        """Send commands over the websocket API; their results (each must succeed)."""
        results = []
        with connect(f"ws://127.0.0.1:{self.port}/api/websocket", max_size=None) as ws:
            assert json.loads(ws.recv())["type"] == "auth_required"
            ws.send(json.dumps({"type": "auth", "access_token": self.token}))
            assert json.loads(ws.recv())["type"] == "auth_ok"
            for n, message in enumerate(messages, start=1):
                ws.send(json.dumps({"id": n, **message}))
                answer = json.loads(ws.recv())
                assert answer.get("success"), answer
                results.append(answer.get("result"))
        return results

    def import_statistics(self, metadata: dict[str, Any], rows: list[dict[str, Any]]) -> None:
        """``recorder/import_statistics`` (``rows``' ``start`` as aware datetimes)."""
        stats = [{**r, "start": r["start"].isoformat()} for r in rows]
        self.websocket({"type": "recorder/import_statistics", "metadata": metadata, "stats": stats})

    def wait_for_recorder(self, stalled_after: float = 60.0) -> None:
        """Until the recorder's queue (``recorder/info``'s backlog) is empty. A year of hourly
        statistics is a minute of its work, more on a loaded machine: what fails is a queue
        that stops shrinking for ``stalled_after`` seconds, not a slow one."""
        seen: dict[str, float] = {"backlog": math.inf, "since": time.monotonic()}

        def empty() -> bool:
            (info,) = self.websocket({"type": "recorder/info"})
            backlog = info["backlog"]
            if backlog < seen["backlog"]:
                seen.update(backlog=backlog, since=time.monotonic())
            elif time.monotonic() - seen["since"] > stalled_after:
                raise AssertionError(f"the recorder's queue stays at {backlog} task(s)")
            return backlog == 0

        wait_until(empty, timeout=3600, interval=0.5, message="the recorder's queue")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def install_seconds(home: Path) -> str:
    """How long the cached install took, as the test reports it."""
    path = home / "install-seconds"
    return path.read_text().strip() if path.exists() else "?"


if __name__ == "__main__":  # python -m tests.support.home_assistant: install (and time) it
    started = time.monotonic()
    where = venv()
    print(f"{where}: ready in {time.monotonic() - started:.0f} s", file=sys.stderr)
