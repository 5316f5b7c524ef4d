"""How many Exist API requests a day of home events costs: the bridge vs one POST per event.

One realistic day (default 10,000 events over 12 attributes: counters such as fridge opens,
coffees, light switches and button presses, some in bursts, and running totals / readings such as
steps, screen time, room temperature and weight; quiet nights, morning and evening peaks) is fed
to each contender, and the mock Exist counts every request (its journal) and every change (its
values), with Exist's limit of 300 requests per sliding hour per token enforced on the mock clock.

Contenders:

1. **exist-bridge** (a real mosquitto, the real ``Bridge``: broker link, ingest, outbox, flusher,
   client, request budget, attribute set-up) with its default deadlines (``--event-delay`` 300 s
   for counters, ``--total-delay`` 3600 s for running totals and readings) in simulated time.
   Compared with the *floor*: the sum over its flushes of ceil(changed (attribute, date) keys /
   35), i.e. the fewest requests any client flushing at those moments could make (35 items per
   request is Exist's cap), and with one request per event. Each event's *delay* is the time from
   its receipt to the first write request that carried its attribute (p50/p99/max per class:
   events, totals); it should never exceed its deadline (plus the time one flush takes).
2. **naive**: one POST per event straight to Exist (``increment`` for counters, ``update`` for
   totals), no retry on 429: what a Home Assistant automation calling a ``rest_command`` does.
3. **mqttwarn** with its HTTP target: not run by default (see ``--mqttwarn``; the row says why).

A second scenario, ``readings``: a readings-only day (a phone's step count published every minute
by Home Assistant's ``mqtt_statestream``, a weight twice a day), where the cadence is set by
``total_delay`` alone.

How time is compressed (simulated time; the whole day runs in about a minute or two):
the mock's clock is frozen and moved by this script only; the bridge runs in this process and is
given that same clock for everything that counts time - its receive clock (the events' local
dates), its request budget (280/h by default) and the client's Retry-After arithmetic (the same
"shared clock" the fault suite's rate-limit tests use). Its flush loop is the real
``Flusher.run``, but the loop sleeps on an alarm that sleeps in *simulated* seconds: the script
publishes the events that fall before the flusher's next wake-up, one by one (QoS 1, the mock
clock set to the event's time, then waiting until the bridge has committed it and the flusher
has re-planned: a commit with an earlier deadline wakes it), then moves the clock to the wake-up
time and lets the flush run to completion before going on. The day ends with the flush at local
midnight (yesterday's final totals sent once more, as in real use). So each flush sees exactly
the events of its simulated window, the cadence and any postponement (a 429's Retry-After, the
budget) are the bridge's own decisions, and the mock's 300/h limit applies as it would over a
real day. The naive client is driven the same
way: the clock is set to each event's time, then its POST is sent.

What "events delivered" means: the share of counter (increment) events that Exist's final totals
contain (per attribute, min(total in Exist, events published), summed); running totals and
readings are judged by whether Exist ends with the last value published ("final values").

A flush that the bridge's own budget delays waits inside the client; that wait also moves the
simulated clock, and the floor is then computed over the flush windows the bridge actually had.

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
from bench import _readload as rl
from bench._common import Publisher, bridge_yaml, stop_process
from mock_exist.server import MockServer
from mqtt_bridge.config import BridgeSettings, parse_config
from mqtt_bridge.service import Bridge

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
        "--event-delay",
        type=float,
        default=BridgeSettings().event_delay,
        metavar="SECONDS",
        help="the bridge's event_delay, in simulated seconds (default: %(default)s, the "
        "bridge's default)",
    )
    parser.add_argument(
        "--total-delay",
        type=float,
        default=BridgeSettings().total_delay,
        metavar="SECONDS",
        help="the bridge's total_delay (default: %(default)s, the bridge's default)",
    )
    parser.add_argument(
        "--scenario",
        choices=("both", "day", "readings"),
        default="both",
        help="day: the 10,000-event day; readings: the readings-only day (default: both)",
    )
    parser.add_argument(
        "--requests-per-hour",
        type=int,
        default=280,
        help="the bridge's exist.requests_per_hour budget (default: %(default)s)",
    )
    parser.add_argument(
        "--read-interval",
        type=float,
        default=0,
        metavar="SECONDS",
        help="also mirror 20 attributes back from Exist (read:, with averages and insights) "
        "every SECONDS simulated seconds, through the same budget (default: no reads)",
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
    if args.events < 1 or args.attributes < 1 or min(args.event_delay, args.total_delay) < 1:
        parser.error("--events and --attributes must be positive, the delays at least 1")
    return args


# =================================================================================== simulated time


class SimAlarm(threading.Event):
    """The flusher's alarm, whose timed waits last *simulated* seconds.

    ``wait(timeout)`` (the flusher's sleep until its next deadline) records its end on the mock
    clock and returns when the script has moved the clock there, or when the alarm is set (a
    commit that brought a deadline forward, or the stop).
    """

    def __init__(self, now):
        super().__init__()
        self._now = now
        self._cv = threading.Condition()
        self.deadline: float | None = None  # while a thread sleeps here
        self.sleeps = 0
        self.wakes: list[float] = []  # simulated times the sleeps ended by the clock (flushes)

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


class SimDay:
    """Drives one in-process bridge through the day on the mock's (frozen) clock."""

    def __init__(self, server: MockServer, broker_port: int, state_dir: Path, args, specs):
        self.server = server
        self.clock = server.state.clock
        text = bridge_yaml(
            exist={
                "base_url": server.url,
                "token": server.token,
                "timezone": "UTC",
                "requests_per_hour": args.requests_per_hour,
            },
            mqtt_port=broker_port,
            client_id="bench-bridge",
            bridge={
                "state_dir": str(state_dir),
                "event_delay": args.event_delay,
                "total_delay": args.total_delay,
                "log_level": "WARNING",
            },
            attributes=[s.bridge_attribute() for s in specs],
            mappings=[s.bridge_mapping() for s in specs],
        )
        self.config = parse_config(text)
        self.bridge = Bridge(self.config, clock=self.clock.timestamp)
        self.alarm = SimAlarm(self.clock.timestamp)
        self.bridge.alarm = self.alarm  # before start(): the flusher sleeps on it
        client = self.bridge.exist.client
        client.budget.clock = self.clock.timestamp  # the shared clock (see the docstring)
        client.clock = self.clock.timestamp
        self.asked_sleeps: list[float] = []
        client.sleep = self._sim_sleep  # in-request waits (backoff, short Retry-After)
        self.published = 0
        self.pub: Publisher | None = None

    def _sim_sleep(self, seconds: float) -> None:
        self.asked_sleeps.append(seconds)
        self.clock.advance(seconds)

    def set_time(self, t: float) -> None:
        self.clock.set(datetime.fromtimestamp(t, timezone.utc), frozen=True)

    def start(self, broker_port: int) -> None:
        self.bridge.start()
        link = self.bridge.link
        ab.wait_for(  # connected, and its subscription's SUBACK received after the last connect
            lambda: link is not None and link.connected and len(link.subacks) >= link.connects > 0,
            30,
            what="the bridge's subscription",
        )
        refused = [rc for acks in link.subacks for rc in acks if rc.is_failure]
        if refused:
            raise RuntimeError(f"the broker refused the bridge's subscription: {refused}")
        ab.wait_for(lambda: self.asleep_until() is not None, 60, what="attribute set-up")
        self.pub = Publisher(broker_port)

    def committed(self) -> int:
        c = self.bridge.outbox.counters()
        return c.get("messages", 0) + c.get("duplicates_ignored", 0)

    def asleep_until(self) -> float | None:
        """The flusher's next wake-up, once it sleeps with nothing left to re-plan."""
        f = self.bridge.flusher
        if f is None or f.planning or self.alarm.is_set() or self.alarm.deadline is None:
            return None
        return self.alarm.deadline

    def next_wake(self) -> float:
        ab.wait_for(lambda: self.asleep_until() is not None, 120, what="the flusher to plan")
        until = self.asleep_until()
        if until is None:
            raise RuntimeError("the flusher woke up again before its wake-up was read")
        return until

    def run_flush(self) -> float:
        """Move the clock to the flusher's wake-up and wait until that flush is done; returns
        the simulated time it started."""
        due = self.next_wake()
        sleeps = self.alarm.sleeps
        self.set_time(max(due, self.clock.timestamp()))
        self.alarm.poke()
        ab.wait_for(
            lambda: self.alarm.sleeps > sleeps and self.asleep_until() is not None,
            120,
            what="a flush",
        )
        return due

    def publish(self, when: float, ev: ab.Event) -> None:
        """Publish one event at simulated time ``when`` (never backwards: an in-request wait
        may have moved the clock past it) and wait until it is committed and planned for."""
        self.set_time(max(when, self.clock.timestamp()))
        self.pub.publish(ev.attr.topic, ev.payload)
        self.published += 1
        ab.wait_for(lambda: self.committed() >= self.published, 60, step=0.0005,
                    what="the bridge to commit")  # fmt: skip
        self.bridge.writer.wait_idle()  # its wake-up call to the flusher has been made

    def close(self) -> None:
        if self.pub is not None:
            self.pub.close()
            self.pub = None
        self.bridge.stop()  # a no-op the second time


def run_bridge(args, specs, events, t0: float, tmp: Path, stack) -> dict:
    server = stack.enter_context(MockServer({"clock_start": _utc(t0), "clock_frozen": True}))
    broker = ab.start_broker(tmp / "broker-bridge")
    stack.callback(broker.stop)
    others = rl.seed_others(server.state, _utc(t0).date().isoformat()) if args.read_interval else []
    sim = SimDay(server, broker.port, tmp / "state", args, specs)
    stack.callback(sim.close)
    started = time.monotonic()
    sim.start(broker.port)
    mirror = None
    if args.read_interval:
        names = [s.name for s in specs] + others
        mirror = rl.attach_mirror(sim.bridge, names, args.read_interval, sim.clock.timestamp)
    postponed: Counter[str] = Counter()
    received: list[float] = []  # the simulated time each event was published (and received)
    for ev in events:
        when = t0 + ev.t
        advance(sim, mirror, when, postponed)
        received.append(max(when, sim.clock.timestamp()))
        sim.publish(when, ev)
    advance(sim, mirror, t0 + ab.DAY, postponed)  # to the end of the day: midnight's totals
    elapsed = time.monotonic() - started
    pending = sim.bridge.outbox.status()["pending_rows"]
    flushes = list(sim.alarm.wakes)
    sim.close()
    journal = server.state.journal("/api/2/")
    return {
        "state": server.state,
        "journal": journal,
        "reads": rl.read_summary(journal, mirror, postponed) if mirror else None,
        "flushes": flushes,
        "pending": pending,
        "elapsed": elapsed,
        "asked_sleeps": sim.asked_sleeps,
        "start": t0,
        "received": received,
        "delays": {"events": args.event_delay, "totals": args.total_delay},
    }


def advance(sim: SimDay, mirror, until: float, postponed: Counter) -> None:
    """Run the flushes and the mirror's refreshes due up to ``until``, in simulated time order
    (a refresh the mirror postpones is counted in ``postponed`` by its reason)."""
    while True:
        wake = sim.next_wake()
        turn = mirror.next_at if mirror is not None else math.inf
        if min(wake, turn) > until:
            return
        if turn < wake:
            sim.set_time(max(turn, sim.clock.timestamp()))
            mirror.step()
            if mirror.postponed:
                postponed[mirror.postponed.split(" (")[0]] += 1
        else:
            sim.run_flush()


def run_naive(specs, events, t0: float, stack) -> dict:
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


def probe_mqttwarn(exe: str, tmp: Path, stack, n: int = 5) -> str:
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
    pub = Publisher(broker.port, "bench-mqttwarn-publisher")
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


def delivery(state, specs, events, expected: dict[str, float]) -> tuple[float, int, int]:
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


def naive_delays(events: list[ab.Event], journal: list[dict], t0: float) -> dict[str, list[float]]:
    """The naive client's delays: one request per event, in order; only delivered ones."""
    out: dict[str, list[float]] = {"events": [], "totals": []}
    for ev, j in zip(events, journal, strict=True):
        if j["status"] < 400:
            sent = datetime.fromisoformat(j["time"]).timestamp()
            cls = "events" if ev.attr.mode == "increment" else "totals"
            out[cls].append(sent - (t0 + ev.t))
    return out


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
        "reads": sum(j["path"] in rl.READ_PATHS for j in journal),  # the mirror's (read:)
        "throttled": sum(j["status"] == 429 for j in journal),
        "failed": sum(j["status"] >= 400 and j["status"] != 429 for j in journal),
        "max_hour": ab.max_in_any_window(times),
    }


HEADERS = [
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
    "delay events p50/p99/max",
    "delay totals p50/p99/max",
    "wall s",
]


def scenario(name: str, args, specs, events, t0: float, tmp: Path, stack) -> dict:
    """Run the bridge and the naive client through one day; print its table and notes."""
    expected = ab.expected_values(events)
    bridge = run_bridge(args, specs, events, t0, tmp / name, stack)
    naive = run_naive(specs, events, t0, stack)
    naive["received"] = [t0 + ev.t for ev in events]
    floor = floor_requests(events, t0, bridge["flushes"])
    label = f"exist-bridge (delays {args.event_delay:g} s / {args.total_delay:g} s)"
    if args.read_interval:
        label += f" + reads every {args.read_interval:g} s"
    rows = []
    for row_label, result in ((label, bridge), ("naive: 1 POST per event, no retry", naive)):
        d = result["d"] = describe(result, t0)
        share, ok, finals = delivery(result["state"], specs, events, expected)
        if result is naive:  # its own POST, or lost to a 429 (not a delay: not delivered)
            delays = result["delay"] = naive_delays(events, result["journal"], t0)
        else:
            delays = result["delay"] = ab.carried_delays(
                events, result["received"], result["journal"]
            )
        rows.append(
            [
                row_label,
                d["requests"],
                floor,
                f"{d['requests'] / floor:.3f}" if floor else "-",
                f"{d['requests'] / len(events):.3f}",
                d["throttled"],
                d["failed"],
                d["max_hour"],
                f"{share:.1f}%" if any(s.mode == "increment" for s in specs) else "-",
                f"{ok}/{finals}",
                ab.delay_summary(delays["events"]),
                ab.delay_summary(delays["totals"]),
                f"{result['elapsed']:.0f}",
            ]
        )
    if name == "day":
        note = "probed only (see below)" if args.mqttwarn else "not measured (see below)"
        rows.append(["mqttwarn, HTTP target", note] + ["-"] * (len(HEADERS) - 2))
    print()
    print(ab.table(HEADERS, rows))
    b = bridge["d"]
    print()
    print(
        f"bridge: {b['requests']} requests = {b['setup']} set-up (attribute acquire/create, "
        f"reads) + {b['base_learning']} base-learning increments (value 0) + "
        f"{b['writes'] - b['base_learning']} updates, over {len(bridge['flushes'])} wake-ups; "
        f"floor {floor} = sum over flushes of ceil(changed keys / 35); "
        f"{bridge['pending']} row(s) left pending; in-request sleeps asked: "
        f"{len(bridge['asked_sleeps'])}"
    )
    if bridge["reads"]:
        print(bridge["reads"])
    slack = sum(bridge["asked_sleeps"])  # the longest a flush took, at most (simulated)
    for cls, limit in bridge["delays"].items():
        if not bridge["delay"][cls]:
            continue
        worst = max(bridge["delay"][cls])
        verdict = "OK" if worst <= limit + slack + 1e-6 else "OVER"
        print(
            f"bridge delay, {cls}: max {worst:.0f} s against deadline {limit:g} s "
            f"+ one flush ({slack:.0f} s): {verdict}"
        )
    n = naive["d"]
    print(
        f"naive: {n['requests']} requests, statuses {dict(sorted(naive['statuses'].items()))}; "
        f"{n['throttled']} events lost to 429 (no retry)"
    )
    return bridge


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    today = datetime.now(timezone.utc).date()
    t0 = datetime(today.year, today.month, today.day, tzinfo=timezone.utc).timestamp()
    print(ab.environment())
    print(
        f"# Exist limit 300 requests/sliding hour/token (mock clock); bridge event_delay "
        f"{args.event_delay:g} s, total_delay {args.total_delay:g} s (simulated), budget "
        f"{args.requests_per_hour}/h"
    )
    sys.stdout.flush()
    with ab.workspace("bench-api-calls-") as (tmp, stack):
        if args.scenario in ("both", "day"):
            specs = ab.attributes(args.attributes)
            events = ab.day_of_events(args.events, specs, seed=args.seed)
            hourly = Counter(int(ev.t // 3600) for ev in events)
            quietest = min(hourly.get(h, 0) for h in range(24))
            print(
                f"\n## day: {len(events)} events over {len(specs)} attributes "
                f"({sum(s.mode == 'increment' for s in specs)} counters, "
                f"{sum(s.mode == 'update' for s in specs)} totals/readings) on {today} (UTC); "
                f"busiest hour {max(hourly.values())} events, quietest {quietest}; max "
                f"{ab.max_in_any_window([ev.t for ev in events])} in any sliding hour; "
                f"seed {args.seed}"
            )
            sys.stdout.flush()
            bridge = scenario("day", args, specs, events, t0, tmp, stack)
            requests = bridge["d"]["requests"] - bridge["d"]["reads"]
            verdict = "OK" if requests <= 320 else "OVER"
            reads = bridge["d"]["reads"]
            aside = f", the mirror's {reads} reads aside" if args.read_interval else ""
            print(f"day: {requests} requests{aside} (target <= 320): {verdict}")
            mqttwarn = probe_mqttwarn(args.mqttwarn, tmp, stack) if args.mqttwarn else None
            print("mqttwarn: " + (mqttwarn if mqttwarn else MQTTWARN_REASON))
        if args.scenario in ("both", "readings"):
            specs, events = ab.readings_day(args.seed)
            print(
                f"\n## readings: a readings-only day on {today} (UTC): steps via "
                f"mqtt_statestream every minute ({sum(e.attr.name == 'steps' for e in events)} "
                f"messages), weight twice ({sum(e.attr.name == 'weight' for e in events)}); "
                f"seed {args.seed}"
            )
            sys.stdout.flush()
            bridge = scenario("readings", args, specs, events, t0, tmp, stack)
            requests = bridge["d"]["requests"]
            print(
                f"readings: {requests} requests (target <= 30): "
                f"{'OK' if requests <= 30 else 'OVER'}"
            )
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:
        print("interrupted; cleaned up", file=sys.stderr)
        raise SystemExit(130) from None
