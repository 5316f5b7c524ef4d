"""Shared pieces of ``bench/api_calls.py`` and ``bench/latency.py``.

A realistic day of home events (bursty, with morning and evening peaks), the attributes they go
to, a private mosquitto, a QoS 1 publisher, the "naive" one-POST-per-event client, environment
lines, tables, and clean-up on exit, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import bisect
import contextlib
import importlib.metadata
import math
import os
import platform
import random
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import requests

from bench._common import Broker, mosquitto_version
from bench._common import table as _table

ROOT = Path(__file__).resolve().parent.parent  # the checkout

TOPIC_PREFIX = "bench"

# =================================================================================== attributes


@dataclass(frozen=True)
class AttrSpec:
    """One attribute of the benchmark home: ``mode`` as in a bridge mapping."""

    name: str
    mode: str  # "increment" or "update"
    weight: float  # share of the day's events
    template: str | None = None  # an Exist template, else a custom attribute
    value_type: int = 0  # for custom attributes (and the mock's seed)
    burst: bool = False  # pressed in bursts (button mashing, a light flicked on and off)

    @property
    def topic(self) -> str:
        return f"{TOPIC_PREFIX}/{self.name}"

    def bridge_attribute(self) -> dict:
        """The ``attributes:`` entry of the bridge's configuration."""
        if self.template:
            return {"template": self.template}
        label = self.name.replace("_", " ").capitalize()
        return {"name": self.name, "label": label, "group": "custom", "value_type": self.value_type}

    def bridge_mapping(self) -> dict:
        """The ``mappings:`` entry of the bridge's configuration."""
        return {"topic": self.topic, "attribute": self.name, "mode": self.mode}

    def seed(self, state) -> None:  # a mock_exist.state.MockExist
        """Give the mock's default user this attribute, owned by the default client (what the
        naive client needs: it doesn't acquire or create anything)."""
        owner = state.config.client_id
        if self.template:
            state.seed_attribute(self.name, template=self.template, owner=owner)
        else:
            state.seed_attribute(self.name, value_type=self.value_type, owner=owner)


# 8 counters and 4 running totals / readings; interleaved so that ``--attributes N`` keeps both.
POOL = [
    AttrSpec("light_switches", "increment", 2.0, burst=True),
    AttrSpec("steps", "update", 2.0, template="steps"),
    AttrSpec("fridge_opens", "increment", 1.5),
    AttrSpec("door_opens", "increment", 1.5),
    AttrSpec("mobile_screen_min", "update", 1.0, template="mobile_screen_min"),
    AttrSpec("button_presses", "increment", 1.0, burst=True),
    AttrSpec("toilet_flushes", "increment", 0.7),
    AttrSpec("room_temp", "update", 0.5, value_type=1),
    AttrSpec("coffees", "increment", 0.5, template="coffees"),
    AttrSpec("kettle_boils", "increment", 0.5),
    AttrSpec("dishwasher_runs", "increment", 0.1),
    AttrSpec("weight", "update", 0.03, template="weight"),
]


def attributes(n: int) -> list[AttrSpec]:
    """The first ``n`` of the pool; past 12, extra custom counters ``counter_13`` ..."""
    if n < 1:
        raise ValueError("at least one attribute")
    extra = [AttrSpec(f"counter_{i:02d}", "increment", 0.5) for i in range(13, n + 1)]
    return (POOL + extra)[:n]


# =================================================================================== the day

# Relative event rate per local hour: quiet nights, a morning and an evening peak.
HOURLY = [
    0.3, 0.2, 0.1, 0.1, 0.1, 0.3, 1.5, 4.0, 4.5, 2.5, 1.5, 1.5,
    2.5, 2.0, 1.5, 1.5, 1.5, 2.5, 4.0, 4.5, 4.0, 3.0, 1.5, 0.7,
]  # fmt: skip
DAY = 86_400.0


@dataclass(frozen=True)
class Event:
    t: float  # seconds since local midnight of the benchmark day
    attr: AttrSpec
    payload: str  # what the device publishes
    value: float  # the delta (increment) or the new value (update)


def _hour_time(rng: random.Random) -> float:
    hour = rng.choices(range(24), weights=HOURLY)[0]
    return hour * 3600.0 + rng.uniform(0, 3600.0)


def day_of_events(n: int, attrs: list[AttrSpec], seed: int = 2024) -> list[Event]:
    """``n`` events over one day, sorted by time. About a fifth come in bursts (5-25 presses
    within ~20 s on a "burst" attribute); the rest follow ``HOURLY``. Updates carry a running
    total (steps, screen minutes) or a reading (temperature, weight)."""
    rng = random.Random(seed)
    weights = [a.weight for a in attrs]
    bursty = [a for a in attrs if a.burst]
    stamps: list[tuple[float, AttrSpec]] = []
    while len(stamps) < n:
        t = _hour_time(rng)
        if bursty and rng.random() < 0.02:
            attr = rng.choice(bursty)
            for _ in range(min(rng.randint(5, 25), n - len(stamps))):
                t = min(t + rng.expovariate(1.0), DAY - 0.001)
                stamps.append((t, attr))
        else:
            stamps.append((t, rng.choices(attrs, weights=weights)[0]))
    stamps.sort(key=lambda s: s[0])
    running: dict[str, float] = {}
    out = []
    for t, attr in stamps:
        if attr.mode == "increment":
            out.append(Event(t, attr, '{"action": "single"}', 1))
            continue
        if attr.name == "steps":
            value = running.get(attr.name, 0) + rng.randint(10, 400)
        elif attr.name == "mobile_screen_min":
            value = running.get(attr.name, 0) + rng.randint(1, 12)
        elif attr.name == "weight":
            value = round(rng.uniform(70.0, 80.0), 1)
        elif attr.value_type == 1:
            value = round(rng.uniform(18.0, 24.0), 1)
        else:
            value = running.get(attr.name, 0) + 1
        running[attr.name] = value
        out.append(Event(t, attr, str(value), value))
    return out


READINGS = [
    AttrSpec("steps", "update", 1.0, template="steps"),
    AttrSpec("weight", "update", 0.0, template="weight"),
]


def readings_day(seed: int = 2024) -> tuple[list[AttrSpec], list[Event]]:
    """A readings-only day: the phone's step count as Home Assistant's ``mqtt_statestream``
    publishes it (the state as a plain string, every minute: unchanged at night, growing by day)
    and a weight from a smart scale twice a day (07:05 and 22:40)."""
    rng = random.Random(seed)
    steps, weight = READINGS
    out, total = [], 0
    for minute in range(1440):
        t = minute * 60.0 + rng.uniform(0, 5)
        total += rng.randint(0, 120) if 7 * 60 <= minute < 23 * 60 else 0
        out.append(Event(t, steps, str(total), total))
    for t in (7 * 3600 + 300.0, 22 * 3600 + 2400.0):
        value = round(rng.uniform(70.0, 80.0), 1)
        out.append(Event(t, weight, str(value), value))
    out.sort(key=lambda e: e.t)
    return list(READINGS), out


def carried_delays(
    events: list[Event], received: list[float], journal: list[dict]
) -> dict[str, list[float]]:
    """Per class (``events``: counters, ``totals``: totals and readings) each event's delay: from
    its receipt to the first write request at or after it whose body carries its attribute (a
    base-learning increment of 0 carries nothing)."""
    carried: dict[str, list[float]] = {}
    for j in journal:
        if not j["path"].endswith(("/update/", "/increment/")) or j["status"] >= 400:
            continue
        t = datetime.fromisoformat(j["time"]).timestamp()
        for item in j["body"] or []:
            if j["path"].endswith("/increment/") and item.get("value") == 0:
                continue
            carried.setdefault(str(item.get("name")), []).append(t)
    for times in carried.values():
        times.sort()
    out: dict[str, list[float]] = {"events": [], "totals": []}
    for ev, at in zip(events, received, strict=True):
        times = carried.get(ev.attr.name, [])
        i = bisect.bisect_left(times, at - 1e-6)
        if i < len(times):
            out["events" if ev.attr.mode == "increment" else "totals"].append(times[i] - at)
    return out


def delay_summary(values: list[float]) -> str:
    """``p50 / p99 / max`` in seconds (or minutes past 600 s), "-" for none."""
    if not values:
        return "-"

    def fmt(x: float) -> str:
        return f"{x / 60:.1f} min" if x >= 600 else f"{x:.0f} s"

    return " / ".join(fmt(v) for v in (percentile(values, 50), percentile(values, 99), max(values)))


def expected_values(events: list[Event]) -> dict[str, float]:
    """Per attribute: the number of increments, or the last value of an update attribute."""
    out: dict[str, float] = {}
    for ev in events:
        if ev.attr.mode == "increment":
            out[ev.attr.name] = out.get(ev.attr.name, 0) + ev.value
        else:
            out[ev.attr.name] = ev.value
    return out


# =================================================================================== MQTT


def start_broker(workdir: Path) -> Broker:
    """A private mosquitto on a free loopback port (never the system one on 1883); the caller
    stops it."""
    return Broker(workdir, max_inflight=100).start()


# =================================================================================== naive client


class NaiveClient:
    """What a Home Assistant automation calling a ``rest_command`` does: one POST per event,
    straight to Exist, no batching, no retry (a 429 or an error loses the event)."""

    def __init__(self, base_url: str, token: str, timeout: float = 10.0):
        self.api = base_url.rstrip("/") + "/api/2/attributes"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.timeout = timeout
        self.statuses: dict[int, int] = {}

    def send(self, attr: AttrSpec, value: float, date: str | None = None) -> int:
        """``increment`` (by ``value``, date left to Exist: "today") or ``update`` (``date``)."""
        item: dict = {"name": attr.name, "value": value}
        if attr.mode == "update":
            item["date"] = date
        try:
            status = self.session.post(
                f"{self.api}/{attr.mode}/", json=[item], timeout=self.timeout
            ).status_code
        except requests.RequestException:
            status = 0
        self.statuses[status] = self.statuses.get(status, 0) + 1
        return status

    def close(self) -> None:
        self.session.close()


# =================================================================================== numbers


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def max_in_any_window(times: list[float], window: float = 3600.0) -> int:
    """The most ``times`` within any sliding ``window`` (a half-open interval)."""
    ordered = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(ordered):
        while ordered[lo] <= t - window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def table(headers: list[str], rows: list[list[object]]) -> str:
    """A GitHub-flavoured Markdown table, left-aligned (readable as plain text too)."""
    return _table(headers, rows, align="left")


# =================================================================================== environment


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def environment() -> str:
    mosquitto = mosquitto_version()
    from mqtt_bridge.exist.version import __version__

    return (
        f"# machine: {platform.machine()}, os.cpu_count()={os.cpu_count()}, "
        f"{platform.system()} {platform.release()}\n"
        f"# python {platform.python_version()}, exist-bridge {__version__}, "
        f"mosquitto {mosquitto}, paho-mqtt {_version('paho-mqtt')}, "
        f"requests {_version('requests')}, flask {_version('flask')}, "
        f"werkzeug {_version('werkzeug')}"
    )


# =================================================================================== clean-up


@contextlib.contextmanager
def workspace(prefix: str) -> Iterator[tuple[Path, contextlib.ExitStack]]:
    """A temporary directory and an ``ExitStack`` for everything started; both are cleaned up
    on return, on an exception, on Ctrl-C and on SIGTERM (turned into ``KeyboardInterrupt``)."""

    def on_term(signum, frame):
        raise KeyboardInterrupt

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, on_term)
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        with contextlib.ExitStack() as stack:
            yield tmp, stack
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def wait_for(predicate, timeout: float, step: float = 0.002, what: str = "a condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(step)
