"""The benchmarks' harness (not a benchmark itself): bench/ imports this and the packages, never
tests/ (a benchmark is not a test, and tests/support is free to change for the tests' sake).

- ``Broker``: a private mosquitto on 127.0.0.1:<free port> with its own mosquitto.conf (never the
  system one), in-memory only, ``max_queued_messages`` raised so a queued backlog is never dropped;
- ``Publisher``: a QoS 1 publisher waiting for each PUBACK; ``bridge_yaml``: a bridge
  configuration from its sections;
- ``MAPPINGS_YAML`` / ``ATTRIBUTES_YAML`` / ``message_stream``: a zigbee2mqtt-like workload, 12
  mappings on 12 attributes (edges, Jinja conditions and templates, JSON paths, plain text, a
  wildcard) and the matching message stream;
- ``bridge_config``: a complete bridge YAML for that workload;
- ``prepare_session`` / ``forget_session`` / ``publish``: an offline persistent session to queue
  into, its end once measured, and a fast QoS 1 publisher;
- ``MockExist``: the Exist emulator as a separate process;
- ``Cleanup``: every process and temporary directory a benchmark starts is ended/removed on exit,
  on an exception, on Ctrl-C and on SIGTERM;
- ``rss_mb``, ``environment``, ``table``: /proc readings, versions and a plain-text table.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import paho.mqtt
import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from exist_demo import broker as demo_broker
from exist_demo.broker import free_port

ROOT = Path(__file__).resolve().parent.parent  # the checkout (the benchmarks' subprocesses' cwd)

# --------------------------------------------------------------------------- processes, cleanup


class Cleanup:
    """Ends the processes and removes the directories registered with it, in reverse order.

    Use as a context manager around a benchmark's ``main``: SIGTERM is turned into
    ``KeyboardInterrupt`` so ``kill <pid>`` cleans up like Ctrl-C does."""

    def __init__(self) -> None:
        self._undo: list[Callable[[], None]] = []

    def __enter__(self) -> Cleanup:
        def _term(*_: object) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, _term)
        # also when started in the background by a shell that ignores SIGINT for its jobs
        signal.signal(signal.SIGINT, signal.default_int_handler)
        return self

    def __exit__(self, *exc: object) -> None:
        # a second Ctrl-C while cleaning up must not leave processes behind
        old = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            while self._undo:
                with contextlib.suppress(Exception):
                    self._undo.pop()()
        finally:
            signal.signal(signal.SIGINT, old)

    def tempdir(self, prefix: str) -> Path:
        path = Path(tempfile.mkdtemp(prefix=prefix))
        self._undo.append(lambda: shutil.rmtree(path, ignore_errors=True))
        return path

    def process(self, proc: subprocess.Popen) -> subprocess.Popen:
        self._undo.append(lambda: stop_process(proc))
        return proc

    def call(self, fn: Callable[[], None]) -> None:
        self._undo.append(fn)


def stop_process(proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGTERM, then SIGKILL if it hasn't exited within ``timeout`` seconds."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGCONT)  # in case it was stopped
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def find_mosquitto() -> str:
    """The mosquitto executable (the demo's search), or exit saying how to install it."""
    found = demo_broker.find_mosquitto()
    if found is None:
        raise SystemExit("mosquitto is not installed (apt-get install mosquitto)")
    return found


def mosquitto_version() -> str:
    try:
        out = subprocess.run(
            [find_mosquitto(), "-h"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError, SystemExit):
        return "?"
    found = re.search(r"mosquitto version (\S+)", out)
    return found.group(1) if found else "?"


class Broker:
    """A private mosquitto: own config and port, no persistence file (sessions live in memory).

    ``max_inflight`` is mosquitto's default (20 unacknowledged QoS 1 messages per client);
    ``max_queued`` must exceed any backlog a benchmark builds (mosquitto's default, 1000, would
    silently drop the rest). QoS 0 messages are queued for offline sessions too, so a QoS 0
    subscriber can be measured on a pre-queued backlog like a QoS 1 one."""

    def __init__(self, workdir: Path, max_inflight: int = 20, max_queued: int = 2_000_000):
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.conf = workdir / "mosquitto.conf"
        self.log = workdir / "mosquitto.log"
        self.max_inflight = max_inflight
        self.max_queued = max_queued
        self.conf.write_text(
            "\n".join(
                [
                    f"listener {self.port} 127.0.0.1",
                    "allow_anonymous true",
                    "persistence false",
                    f"max_inflight_messages {max_inflight}",
                    f"max_queued_messages {max_queued}",
                    "max_queued_bytes 0",
                    "queue_qos0_messages true",
                    "log_type error",
                    "log_type warning",
                    "log_type notice",  # where mosquitto says it drops messages for a client
                    f"log_dest file {self.log}",
                    # as root mosquitto would drop to its own user, who can't write the log here
                    *(["user root"] if os.geteuid() == 0 else []),
                ]
            )
            + "\n"
        )
        self.proc: subprocess.Popen | None = None

    def start(self, cleanup: Cleanup | None = None, timeout: float = 10.0) -> Broker:
        """Start it; ``cleanup`` (else the caller's ``stop``) ends it."""
        self.proc = subprocess.Popen(
            [find_mosquitto(), "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if cleanup is not None:
            cleanup.process(self.proc)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited; see {self.log}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.02)
        raise RuntimeError(f"mosquitto did not listen on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)

    def dropped(self) -> str:
        """What mosquitto logged about messages it dropped ('Outgoing messages are being dropped
        for client ...', a notice: the queue of an offline or slow session was full) and any
        error or warning; empty when there was none."""
        try:
            lines = self.log.read_text().splitlines()
        except OSError:
            return ""
        bad = ("being dropped", "Error:", "Warning:")
        return "\n".join(line for line in lines if any(word in line for word in bad))


class MockExist:
    """The Exist emulator (``mock-exist``) in its own process, so its request handling never
    competes for this process's GIL."""

    def __init__(self, rate_limit: int = 1_000_000):
        self.port = free_port()
        self.token = os.urandom(20).hex()  # 40 hex characters, like exist.io tokens
        self.url = f"http://127.0.0.1:{self.port}"
        self.rate_limit = rate_limit

    def start(self, cleanup: Cleanup, timeout: float = 30.0) -> MockExist:
        code = "import sys; from mock_exist.cli import main; sys.exit(main())"
        args = ["--port", str(self.port), "--token", self.token, "--quiet"]
        args += ["--rate-limit", str(self.rate_limit)]
        proc = cleanup.process(
            subprocess.Popen(
                [sys.executable, "-c", code, *args],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError("mock-exist exited at start")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        raise RuntimeError(f"mock-exist did not listen on port {self.port}")


# --------------------------------------------------------------------------- the workload

# 12 custom attributes, created by the bridge at start (value types: 0 integer, 1 decimal, 8 scale)
ATTRIBUTES = {
    "fridge_opens": ("Fridge opens", "food", 0),
    "fridge_battery": ("Fridge battery", "custom", 0),
    "front_door_opens": ("Front door opens", "custom", 0),
    "coffees_pressed": ("Coffees pressed", "food", 0),
    "mood_pressed": ("Mood pressed", "mood", 8),
    "phone_steps": ("Phone steps", "activity", 0),
    "scale_weight": ("Scale weight", "health", 1),
    "desk_sits": ("Desk sits", "productivity", 0),
    "water_ml": ("Water ml", "food", 0),
    "plug_ons": ("Plug ons", "custom", 0),
    "office_temp": ("Office temp", "weather", 1),
    "office_humidity": ("Office humidity", "weather", 0),
}

MAPPINGS_YAML = """\
mappings:
  - {topic: zigbee2mqtt/fridge_door, attribute: fridge_opens, json_path: contact,
     edge: {from: true, to: false}}
  - {topic: zigbee2mqtt/fridge_door, attribute: fridge_battery, mode: update, json_path: battery}
  - {topic: zigbee2mqtt/front_door, attribute: front_door_opens, json_path: contact,
     edge: {from: true, to: false}}
  - {topic: zigbee2mqtt/coffee_button, attribute: coffees_pressed,
     condition: "{{ value_json.action == 'single' }}"}
  - {topic: zigbee2mqtt/mood_button, attribute: mood_pressed, mode: update,
     value_template: "{{ value_json.action | replace('mood_', '') }}"}
  - {topic: homeassistant/sensor/phone_steps/state, attribute: phone_steps, mode: update}
  - {topic: openscale/measurement, attribute: scale_weight, mode: update, json_path: weight}
  - {topic: zigbee2mqtt/desk_motion, attribute: desk_sits, json_path: occupancy,
     edge: {to: true}}
  - {topic: zigbee2mqtt/water_meter, attribute: water_ml, json_path: flow_ml, amount: value}
  - {topic: "zigbee2mqtt/plugs/+", attribute: plug_ons, json_path: state, edge: {to: "ON"}}
  - {topic: zigbee2mqtt/office_climate, attribute: office_temp, mode: update,
     json_path: temperature}
  - {topic: zigbee2mqtt/office_climate, attribute: office_humidity, mode: update,
     json_path: humidity}
"""

TOPICS = [
    "zigbee2mqtt/fridge_door",
    "zigbee2mqtt/front_door",
    "zigbee2mqtt/coffee_button",
    "zigbee2mqtt/mood_button",
    "homeassistant/sensor/phone_steps/state",
    "openscale/measurement",
    "zigbee2mqtt/desk_motion",
    "zigbee2mqtt/water_meter",
    "zigbee2mqtt/plugs/+",
    "zigbee2mqtt/office_climate",
]


def attributes_yaml() -> str:
    lines = ["attributes:"]
    for name, (label, group, value_type) in ATTRIBUTES.items():
        lines.append(
            f"  - {{name: {name}, label: {label}, group: {group}, value_type: {value_type}}}"
        )
    return "\n".join(lines) + "\n"


def bridge_config(
    *,
    exist_url: str,
    token: str,
    mqtt_port: int,
    client_id: str,
    state_dir: Path,
    qos: int = 1,
    delay: float = 86_400,
    timezone: str = "UTC",
) -> str:
    """A complete bridge configuration for the workload (flushing kept out of the way)."""
    return (
        f"exist:\n  base_url: {exist_url}\n  token: {token}\n  timezone: {timezone}\n"
        f"  requests_per_hour: 280\n"
        f"mqtt:\n  host: 127.0.0.1\n  port: {mqtt_port}\n  client_id: {client_id}\n"
        f"  qos: {qos}\n  persistent_session: true\n"
        f"bridge:\n  state_dir: {state_dir}\n  event_delay: {delay}\n  total_delay: {delay}\n"
        f"  log_level: WARNING\n" + attributes_yaml() + MAPPINGS_YAML
    )


def bridge_yaml(
    *,
    exist: dict,
    mqtt_port: int,
    client_id: str,
    bridge: dict,
    attributes: list[dict],
    mappings: list[dict],
) -> str:
    """A bridge configuration: the ``exist`` and ``bridge`` sections as given, the broker on
    127.0.0.1:``mqtt_port``, ``attributes`` and ``mappings`` as lists of dicts."""
    mqtt_section = {"host": "127.0.0.1", "port": mqtt_port, "client_id": client_id}
    doc = {"exist": exist, "mqtt": mqtt_section, "bridge": bridge}
    return yaml.safe_dump({**doc, "attributes": attributes, "mappings": mappings}, sort_keys=False)


def _b(text: str) -> bytes:
    return text.encode()


def message_stream(n: int) -> Iterator[tuple[str, bytes]]:
    """``n`` messages cycling over the devices, payloads like zigbee2mqtt's (~30-70 bytes)."""
    kinds: list[Callable[[int], tuple[str, bytes]]] = [
        lambda i: (
            "zigbee2mqtt/fridge_door",
            _b(f'{{"contact":{"true" if i % 2 else "false"},"battery":97,"linkquality":120}}'),
        ),
        lambda i: (
            "zigbee2mqtt/front_door",
            _b(f'{{"contact":{"false" if i % 3 else "true"},"battery":88,"linkquality":96}}'),
        ),
        lambda i: (
            "zigbee2mqtt/coffee_button",
            _b('{"action":"single","battery":90,"linkquality":80}')
            if i % 4
            else _b('{"action":"double","battery":90,"linkquality":80}'),
        ),
        lambda i: ("zigbee2mqtt/mood_button", _b(f'{{"action":"mood_{1 + i % 9}"}}')),
        lambda i: ("homeassistant/sensor/phone_steps/state", _b(str(1000 + i))),
        lambda i: (
            "openscale/measurement",
            _b(f'{{"weight":{70 + i % 50 / 10:.1f},"impedance":480}}'),
        ),
        lambda i: (
            "zigbee2mqtt/desk_motion",
            _b(f'{{"occupancy":{"true" if i % 2 else "false"},"illuminance":30}}'),
        ),
        lambda i: ("zigbee2mqtt/water_meter", _b(f'{{"flow_ml":{100 + i % 400}}}')),
        lambda i: (
            f"zigbee2mqtt/plugs/plug_{i % 5}",
            _b(f'{{"state":"{"ON" if i % 2 else "OFF"}","power":12.5}}'),
        ),
        lambda i: (
            "zigbee2mqtt/office_climate",
            _b(f'{{"temperature":{20 + i % 40 / 10:.1f},"humidity":{40 + i % 20}}}'),
        ),
    ]
    for i, kind in zip(range(n), itertools.cycle(kinds)):
        yield kind(i // len(kinds))


# --------------------------------------------------------------------------- MQTT clients


def _client(client_id: str, clean_session: bool = True) -> mqtt.Client:
    return mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=clean_session,
        protocol=mqtt.MQTTv311,
    )


class Publisher:
    """One connected client on 127.0.0.1:``port`` publishing at QoS 1; ``publish`` returns once
    the broker acknowledged the message (PUBACK, at most ``timeout`` seconds)."""

    def __init__(self, port: int, client_id: str = "bench-publisher", timeout: float = 30):
        self.client = _client(client_id)
        self.timeout = timeout
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def publish(self, topic: str, payload: str | bytes) -> None:
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(self.timeout)
        if not info.is_published():
            raise RuntimeError(f"the broker did not acknowledge a message on {topic}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@contextlib.contextmanager
def _connected(port: int, client_id: str, clean_session: bool) -> Iterator[mqtt.Client]:
    """A client connected to 127.0.0.1:``port``, its network loop running; disconnected after."""
    client = _client(client_id, clean_session=clean_session)
    client.connect("127.0.0.1", port)  # (the CONNECT is sent before the loop starts)
    client.loop_start()
    try:
        yield client
    finally:
        client.disconnect()
        client.loop_stop()


def prepare_session(port: int, client_id: str, topics: Iterable[str], qos: int) -> None:
    """Create a persistent session subscribed to ``topics``, then leave it offline so the broker
    queues everything published to them until ``client_id`` connects again."""
    subscribed = threading.Event()
    with _connected(port, client_id, clean_session=False) as client:
        client.on_subscribe = lambda *_: subscribed.set()
        client.subscribe([(t, qos) for t in topics])
        if not subscribed.wait(10):
            raise RuntimeError(f"{client_id}: no SUBACK from the broker")


def forget_session(port: int, client_id: str) -> None:
    """End ``client_id``'s persistent session (a clean-session connect, then a disconnect, in
    that order on one connection): the broker stops queueing for it, so a measured session left
    behind doesn't fill up (and drop messages) while later rounds publish."""
    with _connected(port, client_id, clean_session=True):
        pass


def publish(
    port: int,
    messages: Iterable[tuple[str, bytes]],
    qos: int = 1,
    inflight: int = 100,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Publish every message (QoS ``qos``) as fast as the broker confirms them: ``inflight``
    unconfirmed in paho's window, as many again queued behind it. Returns how many were published
    and confirmed (PUBACK for QoS 1)."""
    client = _client(f"bench-pub-{os.getpid()}-{time.monotonic_ns()}")
    client.max_inflight_messages_set(inflight)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    count = 0
    try:
        pending: collections.deque[mqtt.MQTTMessageInfo] = collections.deque()
        for topic, payload in messages:
            pending.append(client.publish(topic, payload, qos=qos))
            count += 1
            if len(pending) >= 2 * inflight:
                pending.popleft().wait_for_publish(60)
                while pending and pending[0].is_published():
                    pending.popleft()
            if progress is not None and count % 1000 == 0:
                progress(count)
        for info in pending:
            info.wait_for_publish(60)
            if not info.is_published():
                raise RuntimeError(f"message {info.mid} was not confirmed by the broker")
        if progress is not None:
            progress(count)
    finally:
        client.disconnect()
        client.loop_stop()
    return count


# --------------------------------------------------------------------------- readings, output


def rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MB, from /proc/<pid>/status (HWM = peak RSS so far)."""
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024  # kB -> MB
    return values["VmRSS"], values["VmHWM"]


def environment() -> list[str]:
    """One line each: cores, Python, paho-mqtt, mosquitto, the platform."""
    return [
        f"cores (os.cpu_count()): {os.cpu_count()}",
        f"python: {platform.python_version()} ({platform.python_implementation()})",
        f"paho-mqtt: {paho.mqtt.__version__}",
        f"mosquitto: {mosquitto_version()}",
        f"platform: {platform.platform()}",
    ]


def table(headers: list[str], rows: list[list[object]], align: str = "right") -> str:
    """A plain table, columns aligned ``right`` or ``left`` (Markdown-compatible)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    pad = str.rjust if align == "right" else str.ljust

    def line(r: list[str]) -> str:
        return "| " + " | ".join(pad(c, w) for c, w in zip(r, widths, strict=True)) + " |"

    end = ":" if align == "right" else "-"
    sep = "|" + "|".join("-" * (w + 1) + end for w in widths) + "|"
    return "\n".join([line(cells[0]), sep] + [line(r) for r in cells[1:]])
