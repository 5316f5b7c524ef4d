"""How many Exist API requests a day of home events costs: the bridge vs one POST per event.

One realistic day (default 10,000 events over 12 attributes: counters such as fridge opens,
coffees, light switches and button presses, some in bursts, and running totals / readings such as
steps, screen time, room temperature and weight; quiet nights, morning and evening peaks) is fed
to each contender, and the mock Exist counts every request (its journal) and every change (its
values), with Exist's limit of 300 requests per sliding hour per token enforced on the mock clock.

Contenders:

1. **exist-bridge** (a real mosquitto, the real ``Bridge``: broker link, ingest, outbox, flusher,
   client, request budget, attribute set-up) at ``--flush-interval`` (default 60 s) of simulated
   time. Compared with the *floor*: the sum over its flushes of ceil(changed (attribute, date)
   keys / 35), i.e. the fewest requests any client flushing at that cadence could make (35 items
   per request is Exist's cap), and with one request per event.
2. **naive**: one POST per event straight to Exist (``increment`` for counters, ``update`` for
   totals), no retry on 429: what a Home Assistant automation calling a ``rest_command`` does.
3. **mqttwarn** with its HTTP target: not run by default (see ``--mqttwarn``; the row says why).

How time is compressed (simulated time; the whole day runs in about a minute or two):
the mock's clock is frozen and moved by this script only; the bridge runs in this process and is
given that same clock for everything that counts time - its receive clock (the events' local
dates), its request budget (280/h by default) and the client's Retry-After arithmetic (the same
"shared clock" the fault suite's rate-limit tests use). Its flush loop is the real
``Flusher.run``, but the loop's sleeps go through a stop event that sleeps in *simulated*
seconds: the script publishes the events that fall before the flusher's next wake-up (QoS 1, each
confirmed by the broker, each with the mock clock set to the event's time), waits until the bridge
has committed them to its outbox, then moves the clock to the wake-up time and lets the flush run
to completion before going on. So each flush sees exactly the events of its simulated window, the
cadence and any postponement (a 429's Retry-After, the budget) are the bridge's own decisions, and
the mock's 300/h limit applies as it would over a real day. The naive client is driven the same
way: the clock is set to each event's time, then its POST is sent.

What "events delivered" means: the share of counter (increment) events that Exist's final totals
contain (per attribute, min(total in Exist, events published), summed); running totals and
readings are judged by whether Exist ends with the last value published ("final values").

A flush that the bridge's own budget delays (try ``--flush-interval 10``: 360 flushes an hour
against a 280/h budget) waits inside the client; that wait also moves the simulated clock, and the
floor is then computed over the flush windows the bridge actually had.

Run: ``python -m bench.api_calls`` (under a minute on 2 cores), ``--quick`` for a smoke run (about
15 s), ``--help`` for the options.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from bench import _apibench as ab
from bench._common import stop_process
from mock_exist.server import MockServer
from mqtt_bridge.config import BridgeSettings, parse_config
from mqtt_bridge.service import Bridge
from tests.support.config import bridge_config
from tests.support.mqtt import wait_subscribed

MQTTWARN_REASON = (
    "not measured: mqttwarn 0.36.1 installs (pip, throwaway venv), but its HTTP target "
    "(http_urllib) can only add Basic auth, no 'Authorization: Bearer' header; a probe posting "
    "the Exist JSON array got 401 on every request (run with --mqttwarn PATH to repeat it)"
)

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Count the Exist API requests of a simulated day of MQTT events: "
        "exist-bridge vs one POST per event (against the mock, with a fast clock).",
    )
    parser.add_argument(
        "--events", type=int, default=10_000, help="events in the day (default: %(default)s)"
    )
    parser.add_argument(
        "--attributes",
        type=int,
        default=12,
        help="attributes they go to (default: %(default)s: 8 counters, 4 totals/readings)",
    )
    parser.add_argument(
        "--flush-interval",
        type=float,
        default=BridgeSettings().flush_interval,
        metavar="SECONDS",
        help="the bridge's flush_interval, in simulated seconds (default: %(default)s, the "
        "bridge's default)",
    )
    parser.add_argument(
        "--requests-per-hour",
        type=int,
        default=280,
        help="the bridge's exist.requests_per_hour budget (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=2024, help="random seed (default: %(default)s)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: 1,500 events (unless --events is given)",
    )
    parser.add_argument(
        "--mqttwarn",
        metavar="PATH",
        help="the mqttwarn executable of a throwaway venv (pip install mqttwarn); probes whether "
        "its HTTP target can write to Exist (a few events) instead of printing the known reason",
    )
    args = parser.parse_args(argv)
    if args.quick and "--events" not in (argv if argv is not None else sys.argv[1:]):
        args.events = 1_500
    if args.events < 1 or args.attributes < 1 or args.flush_interval <= 0:
        parser.error("--events, --attributes and --flush-interval must be positive")
    return args


# =================================================================================== simulated time


class SimStop(threading.Event):
    """The bridge's ``stopping`` event, whose timed waits last *simulated* seconds.

    ``wait(timeout)`` (the flusher's sleep between flushes) records its deadline on the mock
    clock and returns when the script has moved the clock there (or when the event is set).
    """

    def __init__(self, now):  # noqa: ANN001
        super().__init__()
        self._now = now
        self._cv = threading.Condition()
        self.deadline: float | None = None  # while a thread sleeps here
        self.sleeps = 0
        self.wakes: list[float] = []  # simulated times the sleeps ended (flushes started)

    def set(self) -> None:
        super().set()
        with self._cv:
            self._cv.notify_all()

    def poke(self) -> None:
        with self._cv:
            self._cv.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        if timeout is None:
            return super().wait()
        with self._cv:
            deadline = self._now() + max(0.0, timeout)
            self.deadline = deadline
            self.sleeps += 1
            self._cv.notify_all()
            while not self.is_set() and self._now() < deadline - 1e-3:
                self._cv.wait(0.5)
            self.deadline = None
            if not self.is_set():
                self.wakes.append(self._now())
            return self.is_set()

    def sleeping(self) -> tuple[float | None, int]:
        with self._cv:
            return self.deadline, self.sleeps


class SimDay:
    """Drives one in-process bridge through the day on the mock's (frozen) clock."""

    def __init__(self, server: MockServer, broker_port: int, state_dir: Path, args, specs):  # noqa: ANN001
        self.server = server
        self.clock = server.state.clock
        text = bridge_config(
            url=server.url,
            token=server.token,
            requests_per_hour=args.requests_per_hour,
            port=broker_port,
            state_dir=state_dir,
            client_id="bench-bridge",
            flush_interval=args.flush_interval,
            bridge={"log_level": "WARNING"},
            attributes=[s.bridge_attribute() for s in specs],
            mappings=[s.bridge_mapping() for s in specs],
        )
        self.bridge = Bridge(parse_config(text), clock=self.clock.timestamp)
        self.stop = SimStop(self.clock.timestamp)
        self.bridge.stopping = self.stop
        client = self.bridge.exist.client
        client.budget.clock = self.clock.timestamp  # the shared clock (see the docstring)
        client.clock = self.clock.timestamp
        self.asked_sleeps: list[float] = []
        client.sleep = self._sim_sleep  # in-request waits (backoff, short Retry-After)
        self.published = 0
        self.pub: ab.Publisher | None = None

    def _sim_sleep(self, seconds: float) -> None:
        self.asked_sleeps.append(seconds)
        self.clock.advance(seconds)

    def set_time(self, t: float) -> None:
        self.clock.set(datetime.fromtimestamp(t, timezone.utc), frozen=True)
        self.stop.poke()

    def start(self, broker_port: int) -> None:
        self.bridge.start()
        wait_subscribed(self.bridge.link, 30)  # connected, its SUBACK received
        ab.wait_for(lambda: self.stop.sleeping()[0] is not None, 60, what="attribute set-up")
        self.pub = ab.Publisher(broker_port)

    def committed(self) -> int:
        c = self.bridge.outbox.counters()
        return c.get("messages", 0) + c.get("duplicates_ignored", 0)

    def flush_due(self) -> float:
        """Simulated time of the flusher's next wake-up."""
        deadline, _ = self.stop.sleeping()
        assert deadline is not None
        return deadline

    def run_flush(self) -> None:
        """Move the clock to the flusher's wake-up and wait until that flush is done."""
        deadline, sleeps = self.stop.sleeping()
        self.set_time(deadline)
        ab.wait_for(
            lambda: self.stop.sleeping()[1] > sleeps and self.stop.sleeping()[0] is not None,
            120,
            what="a flush",
        )

    def publish(self, t0: float, events: list[ab.Event]) -> None:
        for ev in events:
            # never backwards: an in-request wait (the budget) may have moved the clock past it
            self.set_time(max(t0 + ev.t, self.clock.timestamp()))
            self.pub.publish(ev.attr.topic, ev.payload)
            self.published += 1
        ab.wait_for(lambda: self.committed() >= self.published, 60, step=0.001,
                    what="the bridge to commit")  # fmt: skip

    def close(self) -> None:
        if self.pub is not None:
            self.pub.close()
            self.pub = None
        self.bridge.stop()  # a no-op the second time


def run_bridge(args, specs, events, t0: float, tmp: Path, stack) -> dict:  # noqa: ANN001
    server = stack.enter_context(MockServer({"clock_start": _utc(t0), "clock_frozen": True}))
    broker = ab.start_broker(tmp / "broker-bridge")
    stack.callback(broker.stop)
    sim = SimDay(server, broker.port, tmp / "state", args, specs)
    stack.callback(sim.close)
    started = time.monotonic()
    sim.start(broker.port)
    i, n = 0, len(events)
    while i < n:
        due = sim.flush_due()
        j = i
        while j < n and t0 + events[j].t < due - 1e-3:
            j += 1
        sim.publish(t0, events[i:j])
        i = j
        sim.run_flush()
    for _ in range(20):  # drain: what the last window left
        if sim.bridge.outbox.status()["pending_rows"] == 0:
            break
        sim.run_flush()
    elapsed = time.monotonic() - started
    pending = sim.bridge.outbox.status()["pending_rows"]
    flushes = list(sim.stop.wakes)
    sim.close()
    journal = server.state.journal("/api/2/")
    return {
        "state": server.state,
        "journal": journal,
        "flushes": flushes,
        "pending": pending,
        "elapsed": elapsed,
        "asked_sleeps": sim.asked_sleeps,
        "start": t0,
    }


def run_naive(specs, events, t0: float, stack) -> dict:  # noqa: ANN001
    server = stack.enter_context(MockServer({"clock_start": _utc(t0), "clock_frozen": True}))
    for spec in specs:
        spec.seed(server.state)
    client = ab.NaiveClient(server.url, server.token)
    stack.callback(client.close)
    date = _utc(t0).date().isoformat()
    started = time.monotonic()
    for ev in events:
        server.state.clock.set(_utc(t0 + ev.t), frozen=True)
        client.send(ev.attr, ev.value, date)
    return {
        "state": server.state,
        "journal": server.state.journal("/api/2/"),
        "elapsed": time.monotonic() - started,
        "statuses": dict(client.statuses),
    }


def probe_mqttwarn(exe: str, tmp: Path, stack, n: int = 5) -> str:  # noqa: ANN001
    """Run mqttwarn with an http_urllib target that POSTs the Exist JSON array (the MQTT payload
    itself, ``tojson``) to the mock's increment endpoint; report what the mock answered."""
    import os
    import subprocess

    server = stack.enter_context(MockServer())
    ab.AttrSpec("coffees", "increment", 1, template="coffees").seed(server.state)
    broker = ab.start_broker(tmp / "broker-mqttwarn")
    stack.callback(broker.stop)
    ini = tmp / "mqttwarn.ini"
    ini.write_text(
        f"[defaults]\nhostname = 127.0.0.1\nport = {broker.port}\nlaunch = http_urllib\n\n"
        "[config:http_urllib]\ntargets = {\n"
        f"  'inc': ['post', '{server.url}/api/2/attributes/increment/', None, None, True],\n"
        "  }\n\n[bench/coffees]\ntargets = http_urllib:inc\n"
    )
    log = (tmp / "mqttwarn.log").open("wb")
    stack.callback(log.close)
    proc = subprocess.Popen(
        [exe], env={**os.environ, "MQTTWARNINI": str(ini)}, cwd=tmp, stdout=log, stderr=log
    )

    stack.callback(stop_process, proc, 10)
    time.sleep(3)  # mqttwarn connects and subscribes
    pub = ab.Publisher(broker.port, "bench-mqttwarn-publisher")
    stack.callback(pub.close)
    for _ in range(n):
        pub.publish("bench/coffees", '[{"name": "coffees", "value": 1}]')
    with contextlib.suppress(TimeoutError):
        ab.wait_for(lambda: len(server.state.journal("/api/2/")) >= n, 20, step=0.05)
    statuses = Counter(j["status"] for j in server.state.journal("/api/2/"))
    landed = sum(v or 0 for v in server.state.values("coffees").values())
    got = ", ".join(f"{c} x {s}" for s, c in sorted(statuses.items())) or "no request"
    return f"probe: {n} events -> {got}; {landed}/{n} in Exist"


# =================================================================================== analysis


def _utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, timezone.utc)


def floor_requests(events: list[ab.Event], t0: float, flushes: list[float]) -> int:
    """Sum over the bridge's flush windows of ceil(distinct (attribute, date) keys / 35)."""
    total, i = 0, 0
    for end in flushes:
        keys = set()
        while i < len(events) and t0 + events[i].t < end - 1e-3:
            ev = events[i]
            keys.add((ev.attr.name, _utc(t0 + ev.t).date()))
            i += 1
        total += math.ceil(len(keys) / 35)
    return total


def delivery(state, specs, events, expected: dict[str, float]) -> tuple[float, int, int]:  # noqa: ANN001
    """(share of counter events in Exist, update attributes with the right final value, of how
    many)."""
    published = Counter(ev.attr.name for ev in events if ev.attr.mode == "increment")
    counted = 0
    finals_ok = finals = 0
    for spec in specs:
        values = state.values(spec.name)
        if spec.mode == "increment":
            got = sum(v or 0 for v in values.values())
            counted += min(got, published[spec.name])
        elif spec.name in expected:
            finals += 1
            last = [v for _, v in sorted(values.items()) if v is not None]
            if last and abs(float(last[-1]) - float(expected[spec.name])) < 1e-6:
                finals_ok += 1
    total = sum(published.values())
    return (100.0 * counted / total if total else 100.0), finals_ok, finals


def describe(result: dict, t0: float) -> dict:
    journal = result["journal"]
    writes = [j for j in journal if j["path"].endswith(("/update/", "/increment/"))]
    times = [datetime.fromisoformat(j["time"]).timestamp() for j in journal if j["status"] != 429]
    return {
        "requests": len(journal),
        "writes": len(writes),
        "setup": len(journal) - len(writes),
        "base_learning": sum(
            1
            for j in writes
            if j["path"].endswith("/increment/")
            and all(i.get("value") == 0 for i in j["body"] or [])
        ),
        "throttled": sum(j["status"] == 429 for j in journal),
        "failed": sum(j["status"] >= 400 and j["status"] != 429 for j in journal),
        "max_hour": ab.max_in_any_window(times),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    specs = ab.attributes(args.attributes)
    events = ab.day_of_events(args.events, specs, seed=args.seed)
    expected = ab.expected_values(events)
    today = datetime.now(timezone.utc).date()
    t0 = datetime(today.year, today.month, today.day, tzinfo=timezone.utc).timestamp()
    hourly = Counter(int(ev.t // 3600) for ev in events)
    quietest = min(hourly.get(h, 0) for h in range(24))
    print(ab.environment())
    print(
        f"# {len(events)} events over {len(specs)} attributes "
        f"({sum(s.mode == 'increment' for s in specs)} counters, "
        f"{sum(s.mode == 'update' for s in specs)} totals/readings) on {today} (UTC); "
        f"busiest hour {max(hourly.values())} events, quietest {quietest}; "
        f"max {ab.max_in_any_window([ev.t for ev in events])} in any sliding hour; seed {args.seed}"
    )
    print(
        f"# Exist limit 300 requests/sliding hour/token (mock clock); bridge flush_interval "
        f"{args.flush_interval:g} s (simulated), budget {args.requests_per_hour}/h"
    )
    sys.stdout.flush()
    with ab.workspace("bench-api-calls-") as (tmp, stack):
        bridge = run_bridge(args, specs, events, t0, tmp, stack)
        naive = run_naive(specs, events, t0, stack)
        mqttwarn = probe_mqttwarn(args.mqttwarn, tmp, stack) if args.mqttwarn else None

        floor = floor_requests(events, t0, bridge["flushes"])
        rows = []
        for label, result in (
            (f"exist-bridge (flush {args.flush_interval:g} s)", bridge),
            ("naive: 1 POST per event, no retry", naive),
        ):
            d = describe(result, t0)
            share, ok, finals = delivery(result["state"], specs, events, expected)
            rows.append(
                [
                    label,
                    d["requests"],
                    floor,
                    f"{d['requests'] / floor:.3f}" if floor else "-",
                    f"{d['requests'] / len(events):.3f}",
                    d["throttled"],
                    d["failed"],
                    d["max_hour"],
                    f"{share:.1f}%",
                    f"{ok}/{finals}",
                    f"{result['elapsed']:.0f}",
                ]
            )
            result["d"] = d
        note = "probed only (see below)" if mqttwarn else "not measured (see below)"
        rows.append(["mqttwarn, HTTP target", note] + ["-"] * 9)
        print()
        print(
            ab.table(
                [
                    "client",
                    "requests",
                    "floor",
                    "ratio to floor",
                    "ratio to 1/event",
                    "429s",
                    "other 4xx/5xx",
                    "max in any hour",
                    "events delivered",
                    "final values",
                    "wall s",
                ],
                rows,
            )
        )
        b = bridge["d"]
        print()
        print(
            f"bridge: {b['requests']} requests = {b['setup']} set-up (attribute acquire/create, "
            f"reads) + {b['base_learning']} base-learning increments (value 0) + "
            f"{b['writes'] - b['base_learning']} updates, over {len(bridge['flushes'])} flushes; "
            f"floor {floor} = sum over flushes of ceil(changed keys / 35); "
            f"{bridge['pending']} row(s) left pending; in-request sleeps asked: "
            f"{len(bridge['asked_sleeps'])}"
        )
        n = naive["d"]
        print(
            f"naive: {n['requests']} requests, statuses {dict(sorted(naive['statuses'].items()))}; "
            f"{n['throttled']} events lost to 429 (no retry)"
        )
        ratio = b["requests"] / floor if floor else float("inf")
        print(
            f"bridge ratio to floor {ratio:.3f} (target <= 1.1): {'OK' if ratio <= 1.1 else 'OVER'}"
        )
        print("mqttwarn: " + (mqttwarn if mqttwarn else MQTTWARN_REASON))
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:
        print("interrupted; cleaned up", file=sys.stderr)
        raise SystemExit(130) from None
