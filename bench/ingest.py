"""How fast the bridge takes messages in, durably, next to a bare paho-mqtt subscriber.

One private mosquitto (own config, free port, ``max_inflight_messages 20`` as mosquitto's default,
``max_queued_messages`` raised so nothing is dropped) and the Exist emulator (``mock-exist``, its
own process). The bridge and the bare subscriber run in this process, one at a time. Each round:

1. creates offline persistent sessions (``clean_session=False``, subscribed, then disconnected)
   for the bridge and for the bare subscriber(s);
2. publishes ``--messages`` zigbee2mqtt-like messages (12 mappings on 12 attributes: door edges,
   Jinja conditions and templates, JSON paths, plain text, a wildcard) which the broker queues for
   every session; the publisher's speed is therefore not part of any measurement;
3. A: starts the real service, ``mqtt_bridge.service.Bridge`` (QoS ``--qos``, durable outbox:
   SQLite WAL ``synchronous=FULL``, group commit, manual acks after the commit), and times from
   ``start()`` until the outbox's committed ``messages`` counter reaches N; the delays are
   a day, so Exist sees only the start-up bootstrap;
4. B: connects a bare paho-mqtt 2.x client (same QoS, auto-ack, an on_message that only counts)
   to its session and times from ``connect()`` to the N-th message; with ``--qos 1`` a bare QoS 0
   subscriber is measured too, as an extra row.

Every count is checked (exactly N received and committed, no duplicates, nothing unmatched). The
table shows each round and the medians; the ratio is bridge / bare paho at the same QoS.

``--baseline PATH`` compares two builds in the same run: PATH is another checkout (e.g. a
``git worktree`` of an older commit); each round then also measures the bridge package found in
PATH on its own session, and both bridges run in a child process of this script each (the same
harness, this checkout's ``bench``, only ``mqtt_bridge`` taken from one tree or the other), in
alternating order. ``--profile DIR`` runs each bridge's child under ``py-spy record --gil``
(samples taken while a thread holds the GIL: what competes with paho's network thread), writes
the raw stacks to DIR and prints each build's functions with the most samples of their own.
Run: ``python -m bench.ingest [--messages N] [--rounds R] [--qos {0,1}] [--baseline PATH]
[--profile DIR]``.
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench._common import (
    ROOT,
    TOPICS,
    Broker,
    Cleanup,
    MockExist,
    _client,
    bridge_config,
    environment,
    forget_session,
    message_stream,
    prepare_session,
    publish,
    table,
)
from mqtt_bridge.config import parse_config
from mqtt_bridge.service import Bridge
from mqtt_bridge.state_dir import OUTBOX_FILE


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Messages/second into the bridge's durable outbox vs a bare paho subscriber, "
        "on the same pre-queued stream from a private mosquitto (medians of alternating rounds).",
    )
    parser.add_argument(
        "--messages",
        type=int,
        default=100_000,
        metavar="N",
        help="messages per round (default: %(default)s)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        metavar="R",
        help="rounds, each measuring the bridge then bare paho; medians reported "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--qos",
        type=int,
        choices=(0, 1),
        default=1,
        help="subscription QoS of the bridge and the bare subscriber (default: %(default)s)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=2000,
        metavar="W",
        help="messages in an untimed first round (default: %(default)s; 0 to skip)",
    )
    parser.add_argument(
        "--max-inflight",
        type=int,
        default=20,
        metavar="K",
        help="mosquitto's max_inflight_messages (default: %(default)s, mosquitto's default)",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="PATH",
        help="another checkout whose mqtt_bridge is measured side by side (both bridges then "
        "run in a child process each)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="profile each bridge with py-spy (GIL-holding samples) into DIR; the bridges then "
        "run in a child process each",
    )
    args = parser.parse_args(argv)
    if args.profile is not None and shutil.which("py-spy") is None:
        parser.error("--profile needs py-spy (pip install py-spy; it is in the dev extra)")
    if args.baseline is not None and not (args.baseline / "mqtt_bridge").is_dir():
        parser.error(f"--baseline: no mqtt_bridge package in {args.baseline}")
    if args.messages < 100 or args.rounds < 1 or args.warmup < 0 or args.max_inflight < 0:
        parser.error("--messages >= 100, --rounds >= 1, --warmup >= 0, --max-inflight >= 0")
    return args


def measure_bridge(job: dict) -> float:
    """Messages/second of ``mqtt_bridge.service.Bridge`` taking ``job["n"]`` messages queued for
    its session into a fresh outbox: from ``start()`` until the committed ``messages`` counter
    reaches N; every count is checked."""
    state = Path(job["state_dir"])
    n = job["n"]
    config = parse_config(
        bridge_config(
            exist_url=job["exist_url"],
            token=job["token"],
            mqtt_port=job["mqtt_port"],
            client_id=job["client_id"],
            state_dir=state,
            qos=job["qos"],
        )
    )
    bridge = Bridge(config)
    reader: sqlite3.Connection | None = None
    try:
        start = time.perf_counter()
        bridge.start()
        deadline = time.monotonic() + job["timeout"]
        while True:
            if reader is None and (state / OUTBOX_FILE).exists():
                reader = sqlite3.connect(f"file:{state / OUTBOX_FILE}?mode=ro", uri=True)
            row = None
            if reader is not None:
                row = reader.execute("SELECT value FROM counters WHERE name='messages'").fetchone()
            if row and row[0] >= n:
                end = time.perf_counter()
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"bridge: only {row and row[0]} of {n} committed")
            time.sleep(0.02)  # light polling: this thread shares the GIL with the bridge
    finally:
        bridge.stop()
        if reader is not None:
            reader.close()
    counters = bridge.outbox.counters()
    dead = bridge.outbox.status()["dead_letters"]
    bridge.outbox.close()
    problems = {k: v for k, v in counters.items() if k in ("unmatched", "duplicates_ignored")}
    if counters.get("messages") != n or problems or dead:
        raise RuntimeError(f"bridge: counters {counters}, dead letters {dead}")
    return n / (end - start)


def child_main() -> None:
    """``--baseline``'s child process: ``measure_bridge`` of the JSON job in argv[1], the rate
    printed as ``rate: <messages/s>``."""
    logging.basicConfig(level=logging.ERROR)
    print(f"rate: {measure_bridge(json.loads(sys.argv[1]))}", flush=True)


class Bench:
    def __init__(self, args: argparse.Namespace, cleanup: Cleanup):
        self.args = args
        self.work = cleanup.tempdir("bench-ingest-")
        (self.work / "broker").mkdir()
        self.broker = Broker(
            self.work / "broker",
            max_inflight=args.max_inflight,
            max_queued=max(2 * args.messages, 10_000),
        ).start(cleanup)
        self.mock = MockExist().start(cleanup)
        self.timeout = max(300.0, args.messages / 200)
        self.rounds = 0

    # ------------------------------------------------------------------ one measurement each

    def bridge_rate(self, client_id: str, n: int, tag: str, tree: Path | None = None) -> float:
        """The bridge's rate: in this process, or (``tree``: the checkout whose ``mqtt_bridge``
        to use) in a child process running ``measure_bridge``."""
        job = {
            "exist_url": self.mock.url,
            "token": self.mock.token,
            "mqtt_port": self.broker.port,
            "client_id": client_id,
            "state_dir": str(self.work / f"state-{tag}"),
            "qos": self.args.qos,
            "n": n,
            "timeout": self.timeout,
        }
        if tree is None and self.args.profile is None:
            return measure_bridge(job)
        return self._child(job, tree or ROOT)

    def _child(self, job: dict, tree: Path) -> float:
        # this checkout's bench with the mqtt_bridge of ``tree`` (a folder holding only a link to
        # it goes first on sys.path, ahead of the working directory)
        link = self.work / f"tree-{abs(hash(str(tree.resolve())))}"
        if not link.exists():
            link.mkdir()
            (link / "mqtt_bridge").symlink_to(tree.resolve() / "mqtt_bridge")
        code = (
            f"import sys; sys.path.insert(0, {str(link)!r}); "
            "from bench.ingest import child_main; child_main()"
        )
        command = [sys.executable, "-c", code, json.dumps(job)]
        if self.args.profile is not None:
            self.args.profile.mkdir(parents=True, exist_ok=True)
            raw = self.args.profile / f"{job['client_id']}.raw"
            spy = ["py-spy", "record", "--gil", "--nonblocking", "-r", "200", "-f", "raw"]
            command = [*spy, "-o", str(raw), "--", *command]
        out = subprocess.run(
            command,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=self.timeout + 60,
        )
        if out.returncode != 0:
            raise RuntimeError(f"bridge from {tree}: {out.stderr.strip()[-2000:]}")
        rates = [line for line in out.stdout.splitlines() if line.startswith("rate: ")]
        if not rates:
            raise RuntimeError(f"bridge from {tree}: no rate in {out.stdout[-2000:]!r}")
        return float(rates[-1].removeprefix("rate: "))

    def bare_rate(self, client_id: str, n: int) -> float:
        received = 0
        done = threading.Event()
        end = 0.0

        def on_message(client, userdata, message) -> None:
            nonlocal received, end
            received += 1
            if received == n:
                end = time.perf_counter()
                done.set()

        client = _client(client_id, clean_session=False)
        client.on_message = on_message
        start = time.perf_counter()
        client.connect("127.0.0.1", self.broker.port)
        client.loop_start()
        try:
            if not done.wait(self.timeout):
                raise RuntimeError(f"bare paho: only {received} of {n} received")
            time.sleep(0.3)  # anything beyond N would be a broker redelivery: must not happen
        finally:
            client.disconnect()
            client.loop_stop()
        if received != n:
            raise RuntimeError(f"bare paho: received {received}, expected {n}")
        return n / (end - start)

    # ------------------------------------------------------------------ a round

    def round(self, tag: str, n: int) -> dict[str, float]:
        qos = self.args.qos
        ids = {
            "bridge": f"bench-bridge-{tag}",
            "bare": f"bench-bare-q{qos}-{tag}",
        }
        if self.args.baseline is not None:
            ids["baseline"] = f"bench-baseline-{tag}"
        if qos == 1:
            ids["bare0"] = f"bench-bare-q0-{tag}"
        for key, cid in ids.items():
            prepare_session(self.broker.port, cid, TOPICS, 0 if key == "bare0" else qos)
        published = publish(self.broker.port, message_stream(n), qos=1)
        assert published == n
        out = {}
        if self.args.baseline is None:
            out["bridge"] = self.bridge_rate(ids["bridge"], n, f"bridge-{tag}")
        else:  # both builds in a child process each, in alternating order
            builds = [("bridge", ROOT), ("baseline", self.args.baseline)]
            if self.rounds % 2:
                builds.reverse()
            for key, tree in builds:
                out[key] = self.bridge_rate(ids[key], n, f"{key}-{tag}", tree)
        self.rounds += 1
        out["bare"] = self.bare_rate(ids["bare"], n)
        if "bare0" in ids:
            out["bare0"] = self.bare_rate(ids["bare0"], n)
        for cid in ids.values():  # measured: the broker stops queueing for it
            forget_session(self.broker.port, cid)
        return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    print("bench/ingest.py: messages/second into the bridge's durable outbox vs bare paho-mqtt")
    for line in environment():
        print("  " + line)
    print(
        f"  {args.messages} messages x {args.rounds} round(s), QoS {args.qos}, "
        f"mosquitto max_inflight_messages {args.max_inflight}"
    )
    with Cleanup() as cleanup:
        bench = Bench(args, cleanup)
        if args.warmup:
            bench.round("warmup", max(args.warmup, 100))
        results = []
        for r in range(1, args.rounds + 1):
            res = bench.round(f"r{r}", args.messages)
            results.append(res)
            print(f"  round {r}: " + ", ".join(f"{LABELS[k]} {v:,.0f}/s" for k, v in res.items()))
        dropped = bench.broker.dropped()
    if dropped:
        print(f"mosquitto logged: {dropped}")
    print()
    print(report(results, args.qos))
    if args.profile is not None:
        for build in ("bridge", "baseline"):
            files = sorted(args.profile.glob(f"bench-{build}-r*.raw"))
            if files:
                print(f"\n{LABELS[build]}: ingest threads, GIL-holding samples ({args.profile})")
                for line in top_functions(files):
                    print("  " + line)
    return 0


INGEST_THREADS = ("Client.loop_forever", "CommitWriter.run")  # paho's network loop, the writer


def top_functions(files: list[Path], most: int = 8) -> list[str]:
    """The functions with the most samples of their own (the stack's last frame, lines merged)
    on the ingest path's two threads (start-up and the other threads left out) in py-spy raw
    files, with their share of those threads' samples."""
    own: collections.Counter[str] = collections.Counter()
    for path in files:
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if any(thread in stack for thread in INGEST_THREADS):
                own[re.sub(r":\d+\)$", ")", stack.split(";")[-1])] += int(count)
    total = sum(own.values()) or 1
    return [f"{100 * n / total:5.1f}%  {name}" for name, n in own.most_common(most)]


LABELS = {
    "bridge": "bridge",
    "baseline": "baseline bridge",
    "bare": "bare paho",
    "bare0": "bare paho QoS 0",
}


def report(results: list[dict[str, float]], qos: int) -> str:
    """The table of rounds and medians, and the ratio(s) to bare paho (median of the rounds')."""
    builds = [k for k in ("bridge", "baseline") if k in results[0]]
    ratios = {k: [r[k] / r["bare"] for r in results] for k in builds}
    med = {k: statistics.median(r[k] for r in results) for k in results[0]}

    def row(label: object, res: dict[str, float], ratio: dict[str, float]) -> list[object]:
        cells: list[object] = [label]
        for k in builds:
            cells += [f"{res[k]:,.0f}", f"{ratio[k]:.2f}"]
        cells.append(f"{res['bare']:,.0f}")
        if "bare0" in res:
            cells.append(f"{res['bare0']:,.0f}")
        return cells

    rows = [row(i + 1, res, {k: ratios[k][i] for k in builds}) for i, res in enumerate(results)]
    rows.append(row("median", med, {k: statistics.median(ratios[k]) for k in builds}))
    headers = ["round"]
    for k in builds:
        headers += [
            f"{LABELS[k]} QoS {qos} (msg/s)",
            "ratio" if k == "bridge" else "ratio (baseline)",
        ]
    headers.append(f"bare paho QoS {qos} (msg/s)")
    if "bare0" in med:
        headers.append("bare paho QoS 0 (msg/s)")
    lines = [table(headers, rows), ""]
    for k in builds:
        lines.append(
            f"ratio {LABELS[k]} / bare paho (QoS {qos}): {statistics.median(ratios[k]):.2f} "
            f"(median of per-round ratios; medians' ratio {med[k] / med['bare']:.2f})"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; stopped everything started", file=sys.stderr)
        sys.exit(130)
