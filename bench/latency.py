"""End-to-end latency: from an MQTT publish (QoS 1) to the value being in (mock) Exist.

Three contenders, each against a fresh mock Exist (real HTTP on loopback, real clock) and a
private mosquitto:

1. ``exist-bridge run`` (a subprocess, exactly as deployed) with the bridge's default
   ``event_delay`` (``BridgeSettings().event_delay``, 300 s): the first event of a quiet spell
   sets a deadline 300 s away and everything arriving until then rides along with it, so the
   latency should be about ``event_delay / 2`` on average and at most about ``event_delay``
   (totals and readings wait up to ``total_delay``, 3600 s by default: see ``api_calls.py``,
   which measures both classes over a simulated day);
2. the same with a short delay (``--short-delay``, 1 s, the kind of setting a demo uses), which
   shows the pipeline's own cost (broker hop, ingest and commit to the outbox, the flush's
   requests);
3. for reference, the naive client: an MQTT subscriber that POSTs one ``increment`` per message
   straight to Exist (what a Home Assistant automation calling a ``rest_command`` does).

Events (counter increments over 12 attributes) are published at uniformly random times over
``--windows`` deadlines' worth of time, so they fall at random points of the flusher's cycle.
A sample's latency is (time the mock applied the change that made the attribute's total include
this event) - (time just before ``publish``): the mock runs in this process on the real clock and
records each applied change with its time in its ledger, so no polling error is added.
Percentiles are nearest-rank.

Run: ``python -m bench.latency`` (about 6 minutes: the 300 s delay needs whole deadlines),
``--quick`` (fewer samples, 10 s short runs), ``--help`` for the options.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench import _apibench as ab
from bench._common import Publisher, bridge_yaml, stop_process
from mock_exist.server import MockServer
from mqtt_bridge.config import BridgeSettings

NAMES = [f"latency_{i:02d}" for i in range(1, 13)]
SPECS = [ab.AttrSpec(name, "increment", 1.0) for name in NAMES]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    default_interval = BridgeSettings().event_delay
    parser = argparse.ArgumentParser(
        description="Measure publish-to-Exist latency of exist-bridge (default and short "
        "event_delay) and of one POST per event, against the mock.",
    )
    parser.add_argument(
        "--samples",
        type=int,
        default=200,
        metavar="M",
        help="events (samples) per contender (default: %(default)s)",
    )
    parser.add_argument(
        "--event-delay",
        type=float,
        default=default_interval,
        metavar="SECONDS",
        help="the bridge's event_delay for contender 1 (default: %(default)s, the bridge's "
        "default)",
    )
    parser.add_argument(
        "--windows",
        type=int,
        default=1,
        help="deadlines' worth of time the events of contender 1 are spread over (default: "
        "%(default)s)",
    )
    parser.add_argument(
        "--short-delay",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="the short event_delay of contender 2 (default: %(default)s)",
    )
    parser.add_argument(
        "--short-duration",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long the events of contenders 2 and 3 are spread over (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=7, help="random seed (default: %(default)s)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: 60 samples, 10 s for the short runs (about 5.5 minutes)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        given = argv if argv is not None else sys.argv[1:]
        if "--samples" not in given:
            args.samples = 60
        if "--windows" not in given:
            args.windows = 1
        if "--short-duration" not in given:
            args.short_duration = 10.0
    if args.samples < 1 or args.windows < 1 or min(args.event_delay, args.short_delay) < 1:
        parser.error("--samples and --windows must be positive, the delays at least 1")
    if args.samples > 280:
        parser.error("--samples above 280 would hit Exist's 300/h limit in the naive run")
    return args


# =================================================================================== one run


class Sender:
    """Publishes the events at their planned times (a background thread), noting when each
    publish started."""

    def __init__(self, port: int, plan: list[tuple[float, str]]):
        self.pub = Publisher(port, "bench-latency-publisher")
        self.plan = plan
        self.sent: list[tuple[float, str, int]] = []  # (publish time, attribute, its k-th event)
        self.thread = threading.Thread(target=self._run, name="bench-sender", daemon=True)
        self.stop = threading.Event()

    def _run(self) -> None:
        counts: dict[str, int] = {}
        for at, name in self.plan:
            delay = at - time.time()
            if delay > 0 and self.stop.wait(delay):
                return
            counts[name] = counts.get(name, 0) + 1
            t = time.time()
            self.pub.publish(f"{ab.TOPIC_PREFIX}/{name}", '{"action": "single"}')
            self.sent.append((t, name, counts[name]))

    def start(self) -> Sender:
        self.thread.start()
        return self

    def close(self) -> None:
        self.stop.set()
        self.thread.join(30)
        self.pub.close()


def plan_events(rng: random.Random, n: int, start: float, span: float) -> list[tuple[float, str]]:
    return sorted((start + rng.uniform(0, span), rng.choice(NAMES)) for _ in range(n))


def latencies(state, sent: list[tuple[float, str, int]]) -> list[float]:
    """For each event: when the attribute's total first reached its count, minus publish time."""
    reached: dict[str, list[tuple[float, float]]] = {}
    for entry in state.ledger():
        at = datetime.fromisoformat(entry["time"]).timestamp()
        reached.setdefault(entry["attribute"], []).append((float(entry["after"] or 0), at))
    out = []
    for t, name, k in sent:
        seen = [at for after, at in reached.get(name, []) if after >= k]
        if seen:
            out.append(min(seen) - t)
    return out


def all_visible(state, sent) -> bool:
    return len(latencies(state, sent)) == len(sent)


def write_requests(state) -> int:
    return sum(
        1 for j in state.journal("/api/2/") if j["path"].endswith(("/update/", "/increment/"))
    )


def run_bridge(
    interval: float, n: int, span: float, rng: random.Random, tmp: Path, stack, tag: str
) -> dict:
    """``exist-bridge run`` in a subprocess with both delays ``interval``; ``n`` events over
    ``span`` s."""
    work = tmp / tag
    work.mkdir()
    server = stack.enter_context(MockServer())
    broker = ab.start_broker(work / "broker")
    stack.callback(broker.stop)
    config = work / "bridge.yaml"
    config.write_text(
        bridge_yaml(
            exist={"base_url": server.url, "token": server.token, "timezone": "UTC"},
            mqtt_port=broker.port,
            client_id="bench-latency-bridge",
            bridge={
                "state_dir": str(work / "state"),
                "event_delay": interval,
                "total_delay": interval,
                "log_level": "INFO",
            },
            attributes=[s.bridge_attribute() for s in SPECS],
            mappings=[s.bridge_mapping() for s in SPECS],
        )
    )
    log_path = work / "bridge.log"
    log = log_path.open("wb")
    stack.callback(log.close)
    env = {**os.environ, "PYTHONPATH": str(ab.ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from mqtt_bridge.cli import main; raise SystemExit(main())",
            "run",
            "-c",
            str(config),
        ],
        stdout=log,
        stderr=log,
        env=env,
        cwd=work,
    )

    stack.callback(stop_process, proc, 30)

    def ready() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"the bridge exited:\n{log_path.read_text()[-3000:]}")
        subscribed = "subscribed to" in log_path.read_text(errors="replace")
        return subscribed and all(server.state.attribute(name) for name in NAMES)

    ab.wait_for(ready, 60, step=0.05, what="the bridge to start")
    time.sleep(0.5)  # the attribute set-up's last answers; the flusher's timer has started
    sender = Sender(broker.port, plan_events(rng, n, time.time() + 0.2, span)).start()
    stack.callback(sender.close)
    sender.thread.join()
    try:
        ab.wait_for(
            lambda: all_visible(server.state, sender.sent),
            interval + 60,
            step=0.25,
            what="every event to reach Exist",
        )
    except TimeoutError as err:
        print(f"# {tag}: {err}", file=sys.stderr)
    stop_process(proc, 30)
    return {
        "latencies": latencies(server.state, sender.sent),
        "sent": len(sender.sent),
        "requests": write_requests(server.state),
    }


def run_naive(n: int, span: float, rng: random.Random, tmp: Path, stack) -> dict:
    """An MQTT subscriber POSTing one increment per message (no batching, no retry)."""
    server = stack.enter_context(MockServer())
    for spec in SPECS:
        spec.seed(server.state)
    broker = ab.start_broker(tmp / "naive-broker")
    stack.callback(broker.stop)
    client = ab.NaiveClient(server.url, server.token)
    stack.callback(client.close)
    by_topic = {s.topic: s for s in SPECS}
    sub = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="bench-naive")
    subscribed = threading.Event()
    sub.on_connect = lambda c, *_: c.subscribe(f"{ab.TOPIC_PREFIX}/#", qos=1)
    sub.on_subscribe = lambda *_: subscribed.set()
    sub.on_message = lambda c, u, msg: client.send(by_topic[msg.topic], 1)
    sub.connect("127.0.0.1", broker.port)
    sub.loop_start()

    def close_sub() -> None:
        sub.disconnect()
        sub.loop_stop()

    stack.callback(close_sub)
    if not subscribed.wait(10):
        raise RuntimeError("the naive subscriber did not subscribe")
    sender = Sender(broker.port, plan_events(rng, n, time.time() + 0.2, span)).start()
    stack.callback(sender.close)
    sender.thread.join()
    try:
        ab.wait_for(lambda: all_visible(server.state, sender.sent), 30, step=0.1,
                    what="every event to reach Exist")  # fmt: skip
    except TimeoutError as err:
        print(f"# naive: {err} (statuses {client.statuses})", file=sys.stderr)
    return {
        "latencies": latencies(server.state, sender.sent),
        "sent": len(sender.sent),
        "requests": write_requests(server.state),
    }


# =================================================================================== main


def row(label: str, result: dict, expect: str) -> list[object]:
    lat = result["latencies"]
    if not lat:
        return [label, result["sent"], 0, result["requests"]] + ["-"] * 6 + [expect]

    def ms(x: float) -> str:
        return f"{x * 1000:.0f} ms" if x < 10 else f"{x:.1f} s"

    return [
        label,
        result["sent"],
        len(lat),
        result["requests"],
        ms(statistics.fmean(lat)),
        ms(ab.percentile(lat, 50)),
        ms(ab.percentile(lat, 90)),
        ms(ab.percentile(lat, 99)),
        ms(max(lat)),
        ms(min(lat)),
        expect,
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    rng = random.Random(args.seed)
    long_span = args.windows * args.event_delay
    print(ab.environment())
    print(
        f"# {args.samples} events per contender over {len(NAMES)} counter attributes; bridge at "
        f"event_delay {args.event_delay:g} s (events over {long_span:g} s) and "
        f"{args.short_delay:g} s (over {args.short_duration:g} s); naive over "
        f"{args.short_duration:g} s"
    )
    sys.stdout.flush()
    with ab.workspace("bench-latency-") as (tmp, stack):
        default = run_bridge(args.event_delay, args.samples, long_span, rng, tmp, stack, "default")
        short = run_bridge(
            args.short_delay, args.samples, args.short_duration, rng, tmp, stack, "short"
        )
        naive = run_naive(args.samples, args.short_duration, rng, tmp, stack)
    print()
    print(
        ab.table(
            [
                "contender",
                "events",
                "seen",
                "write requests",
                "mean",
                "p50",
                "p90",
                "p99",
                "max",
                "min",
                "expected",
            ],  # fmt: skip
            [
                row(
                    f"exist-bridge, event_delay {args.event_delay:g} s (default)",
                    default,
                    f"mean ~{args.event_delay / 2:g} s, max ~{args.event_delay:g} s",
                ),
                row(
                    f"exist-bridge, event_delay {args.short_delay:g} s",
                    short,
                    f"mean ~{args.short_delay / 2:g} s + overhead",
                ),
                row("naive: 1 POST per event", naive, "broker hop + 1 request"),
            ],
        )
    )
    for label, interval, result in (
        ("default", args.event_delay, default),
        ("short", args.short_delay, short),
    ):
        if result["latencies"]:
            over = statistics.fmean(result["latencies"]) - interval / 2
            print(
                f"bridge, event_delay {interval:g} s ({label}): mean - event_delay/2 = "
                f"{over * 1000:+.0f} ms (the pipeline's own cost, plus sampling noise)"
            )
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:
        print("interrupted; cleaned up", file=sys.stderr)
        raise SystemExit(130) from None
