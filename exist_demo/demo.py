"""`exist-bridge demo`: mock Exist + a broker + the bridge + simulated devices, live, then a check.

Everything runs on 127.0.0.1 and stops at the end (or on Ctrl-C): the emulator in a thread, the
broker (mosquitto, or the embedded one), the bridge in-process with ``demo.yaml``, and four devices
publishing realistic payloads: a zigbee2mqtt fridge door sensor, a phone's step counter, a mood
button and a smart scale (plus the odd corrupt message). The screen shows events in, requests out,
the request budget and the values in Exist; at the end, what the devices published is compared
with what landed in Exist, and the exit status says whether they match.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from mock_exist.server import MockServer
from mqtt_bridge.config import BridgeConfig, parse_config
from mqtt_bridge.pipeline.buffer.writer import CommitWriter
from mqtt_bridge.service import Bridge

from .broker import start_broker

CONFIG = Path(__file__).with_name("demo.yaml")
ATTRIBUTES = ("fridge_opens", "steps", "mood", "weight")
WARNINGS_SHOWN = 5  # the bridge's last warnings, kept on the live screen

LEGEND = """\
how to read it:
  events in     messages the devices published, the bridge received, counted (changed a total),
                skipped (e.g. a door report that isn't an opening) and bad (kept aside)
  requests out  requests to Exist: update = the day's totals, increment-0 = learning a day's
                value before the bridge's first event, set-up/other = profile and attributes
  values        what Exist holds for today, then what the devices sent; - means nothing yet
"""


def _show(value: object) -> str:
    """A value for the screen: ``-`` for nothing yet (never Python's None)."""
    return "-" if value is None else str(value)


class RecentWarnings(logging.Handler):
    """Keeps the bridge's last warnings so the live screen shows them (a redraw would wipe
    lines written to the terminal)."""

    def __init__(self, keep: int = WARNINGS_SHOWN):
        super().__init__(logging.WARNING)
        self.lines: list[str] = []
        self.keep = keep

    def emit(self, record: logging.LogRecord) -> None:
        stamp = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        self.lines = [*self.lines, f"{stamp} {record.levelname.lower()}: {record.getMessage()}"]
        self.lines = self.lines[-self.keep :]


@dataclass
class Truth:
    """What the simulated devices published, as Exist should end up storing it."""

    values: dict[str, object] = field(default_factory=dict)
    published: int = 0
    corrupt: int = 0
    door: bool | None = None


class Devices(threading.Thread):
    """Publishes realistic payloads at a few messages per second until stopped."""

    def __init__(self, port: int, seed: int = 7):
        super().__init__(name="demo-devices", daemon=True)
        self.rng = random.Random(seed)
        self.truth = Truth(values={"fridge_opens": 0})
        self.halt = threading.Event()
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, client_id="exist-demo-devices"
        )
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.steps = 0
        self.opens = 0

    def publish(self, topic: str, payload: object) -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload)
        self.client.publish(topic, text, qos=1).wait_for_publish(10)
        self.truth.published += 1

    def tick(self) -> None:
        t, rng = self.truth, self.rng
        roll = rng.random()
        if roll < 0.45:
            contact = not t.door if t.door is not None else True
            self.publish(
                "zigbee2mqtt/fridge_door",
                {"contact": contact, "battery": 91, "linkquality": rng.randint(60, 160)},
            )
            if t.door is True and contact is False:
                self.opens += 1
                t.values["fridge_opens"] = self.opens
            t.door = contact
        elif roll < 0.80:
            self.steps += rng.randint(8, 120)
            self.publish("homeassistant/sensor/phone_steps/state", str(self.steps))
            t.values["steps"] = self.steps
        elif roll < 0.90:
            mood = rng.randint(3, 9)
            self.publish("zigbee2mqtt/mood_button", {"action": f"mood_{mood}"})
            t.values["mood"] = mood
        elif roll < 0.97:
            weight = round(rng.uniform(71.0, 73.5), 1)
            self.publish("openscale/measurement", {"weight": weight, "fat": 18.4})
            t.values["weight"] = weight
        else:
            self.publish("zigbee2mqtt/fridge_door", "{not json")  # a corrupt message
            t.corrupt += 1

    def run(self) -> None:
        while not self.halt.wait(self.rng.uniform(0.05, 0.35)):
            self.tick()

    def stop(self) -> None:
        self.halt.set()
        self.join(10)
        self.client.disconnect()
        self.client.loop_stop()


def _screen(
    elapsed: float,
    duration: float,
    broker,
    mock,
    bridge: Bridge,
    devices: Devices,
    warnings: list[str] | None = None,
) -> str:
    counters = bridge.outbox.counters()
    bad = sum(v for k, v in counters.items() if k.startswith("bad_input."))
    journal = mock.state.journal("/api/2/attributes/")
    increments = sum(1 for j in journal if j["path"].endswith("/increment/"))
    updates = sum(1 for j in journal if j["path"].endswith("/update/"))
    other = len(mock.state.journal("/api/2/")) - increments - updates
    left = bridge.exist.budget_left()
    day = datetime.now(timezone.utc).date().isoformat()
    lines = [
        f"exist-bridge demo  {elapsed:4.0f}s of {duration:.0f}s   broker: {broker.name} on "
        f"127.0.0.1:{broker.port}   Exist (mock): {mock.url}",
        "",
        f"events in     {devices.truth.published:6d} published  {counters.get('messages', 0):6d} "
        f"received  {counters.get('events', 0):5d} counted  {counters.get('skipped', 0):5d} "
        f"skipped  {bad:3d} bad (kept aside)",
        f"requests out  {increments + updates + other:6d} total      {updates:6d} update    "
        f"{increments:5d} increment-0  {other:3d} set-up/other",
        f"budget        {_show(left):>6} of 280 requests left this hour",
        "",
        f"values in Exist for {day}:",
    ]
    for name in ATTRIBUTES:
        lines.append(
            f"  {name:14s} {_show(mock.state.value(name, day)):>10}   "
            f"(devices: {_show(devices.truth.values.get(name))})"
        )
    if warnings:
        lines += ["", "the bridge's last warnings:", *(f"  {w}" for w in warnings)]
    return "\n".join(lines)


def run_demo(
    duration: float = 60.0,
    delay: float = 5.0,
    broker_choice: str = "auto",
    out: TextIO | None = None,
    live: bool | None = None,
) -> int:
    """Run the whole demo; returns 0 when Exist ends up with exactly what was published."""
    import sys

    out = out or sys.stdout
    live = out.isatty() if live is None else live
    recent, restore_logs = _capture_logs(live)
    state_dir = Path(tempfile.mkdtemp(prefix="exist-demo-state-"))
    if threading.current_thread() is threading.main_thread():
        # `kill <pid>` (SIGTERM) stops the demo like Ctrl-C does: everything it started is ended
        signal.signal(signal.SIGTERM, _interrupt)
    broker = start_broker(broker_choice)
    mock = MockServer({"rate_limit": 300}).start()
    bridge = devices = None
    try:
        bridge = Bridge(_config(mock, broker.port, state_dir, delay))
        bridge.bad_input_hint = "counted as bad on this screen (the demo keeps no state after)"
        writer = _start(bridge, mock)
        devices = Devices(broker.port)
        devices.start()
        start = time.monotonic()
        try:
            _watch(out, live, duration, start, (broker, mock, bridge, devices), recent)
        except KeyboardInterrupt:
            out.write("\ninterrupted: stopping\n")
        devices.stop()
        writer.wait_idle(30)
        bridge.stop()  # commits what came in and sends the last totals
        shown = recent.lines if live else None
        elapsed = time.monotonic() - start
        out.write("\n" + _screen(elapsed, duration, broker, mock, bridge, devices, shown) + "\n\n")
        return _verdict(out, mock, devices.truth)
    finally:
        restore_logs()
        if devices is not None and devices.is_alive():
            devices.stop()
        if bridge is not None:
            bridge.stop()
        mock.stop()
        broker.stop()
        shutil.rmtree(state_dir, ignore_errors=True)


def _capture_logs(live: bool) -> tuple[RecentWarnings, Callable[[], None]]:
    """Quiet the emulator's and the brokers' logs, keep the bridge's warnings for the screen
    (``live``: only there, a redraw would wipe them from the terminal); and how to undo it."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("mock_exist.access").setLevel(logging.WARNING)  # a line per request
    logging.getLogger("exist_bridge").setLevel(logging.WARNING)
    for noisy in ("amqtt", "transitions"):  # the embedded broker's chatter, shutdown included
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    recent = RecentWarnings()
    bridge_log = logging.getLogger("exist_bridge")
    propagate = bridge_log.propagate
    bridge_log.addHandler(recent)
    if live:
        bridge_log.propagate = False

    def restore() -> None:
        bridge_log.removeHandler(recent)
        bridge_log.propagate = propagate

    return recent, restore


def _config(mock: MockServer, port: int, state_dir: Path, delay: float) -> BridgeConfig:
    """``demo.yaml`` for this emulator, broker port, state directory and delay."""
    text = (
        CONFIG.read_text()
        .replace("${EXIST_URL}", mock.url)
        .replace("${MQTT_PORT}", str(port))
        .replace("${STATE_DIR}", str(state_dir))
        .replace("${DELAY}", str(delay))
    )
    return parse_config(text, str(CONFIG), env={"EXIST_TOKEN": mock.token})


def _start(bridge: Bridge, mock: MockServer) -> CommitWriter:
    """Start the bridge and wait until it takes messages in: connected, its subscription
    acknowledged, its attributes set up in the emulator. Its ingest writer."""
    bridge.start()
    link, writer = bridge.link, bridge.writer
    if link is None or writer is None:  # start() made them
        raise RuntimeError("the bridge started without its broker link")
    deadline = time.monotonic() + 15
    while not (link.connected and link.subacks and mock.state.attribute("weight")):
        if time.monotonic() > deadline:
            raise RuntimeError("the bridge did not connect and set up its attributes")
        time.sleep(0.05)
    return writer


def _watch(
    out: TextIO,
    live: bool,
    duration: float,
    start: float,
    parts: tuple[Any, MockServer, Bridge, Devices],
    recent: RecentWarnings,
) -> None:
    """Show the screen until ``duration`` has passed: redrawn every second (``live``), else
    printed every 5 s under the legend."""
    shown = 0.0
    if not live:
        out.write(LEGEND + "\n")  # once (the live screen keeps it at its foot)
    while (elapsed := time.monotonic() - start) < duration:
        if live:
            screen = _screen(elapsed, duration, *parts, recent.lines)
            out.write("\x1b[2J\x1b[H" + screen + "\n\n" + LEGEND)
            out.flush()
            time.sleep(1)
            continue
        if elapsed - shown >= 5 or shown == 0:
            out.write(_screen(elapsed, duration, *parts) + "\n\n")
            out.flush()
            shown = elapsed or 0.001
        time.sleep(0.5)


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _verdict(out: TextIO, mock, truth: Truth) -> int:
    day = datetime.now(timezone.utc).date().isoformat()
    ok = True
    out.write(f"{'attribute':14s} {'published':>10s} {'in Exist':>10s}\n")
    for name in ATTRIBUTES:
        want, got = truth.values.get(name), mock.state.value(name, day)
        match = want == got or (want == 0 and got is None)
        ok &= match
        out.write(
            f"{name:14s} {_show(want):>10s} {_show(got):>10s}   {'ok' if match else 'MISMATCH'}\n"
        )
    out.write(
        f"\n{truth.published} messages published ({truth.corrupt} deliberately corrupt); "
        + (
            "Exist has exactly what the devices sent.\n"
            if ok
            else "Exist does NOT match what the devices sent.\n"
        )
    )
    return 0 if ok else 1
