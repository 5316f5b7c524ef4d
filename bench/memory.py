"""Peak memory of the bridge while a large backlog is taken in with Exist down.

Starts a private mosquitto (own config, free port, ``max_queued_messages`` above ``--events``)
and ``exist-bridge run`` as a separate process whose Exist ``base_url`` is a closed port (so
nothing is ever sent: every event stays pending in the outbox) and whose config sets
``exist.timezone`` (the bridge then needs nothing from Exist to take messages in). Its MQTT session
is created before it starts, so nothing published is missed. The bridge's RSS (``VmRSS``) and
peak RSS (``VmHWM``) are read from ``/proc/<pid>/status``: once idle, then while ``--events``
zigbee2mqtt-like messages (QoS 1) are published as fast as possible and committed to the durable
outbox, at checkpoints of the outbox's committed ``messages`` counter. The table also shows the
outbox file size (SQLite + WAL), the backlog still waiting in the broker and the broker's RSS:
the backlog lives in the broker and the totals on disk, not in the bridge's memory.
``--baseline PATH`` measures the bridge package of another checkout (e.g. a ``git worktree`` of an
older commit) first, then this checkout's, in the same invocation, each with its own broker.
Run: ``python -m bench.memory [--events N] [--baseline PATH]``.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from bench._common import (
    ROOT,
    TOPICS,
    Broker,
    Cleanup,
    bridge_config,
    environment,
    free_port,
    message_stream,
    prepare_session,
    publish,
    rss_mb,
    table,
)
from mqtt_bridge.pipeline.buffer.rules import PENDING
from mqtt_bridge.state_dir import OUTBOX_FILE

CLIENT_ID = "bench-memory-bridge"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Peak RSS of `exist-bridge run` while N messages are taken in with Exist "
        "down (base_url on a closed port), at checkpoints, with the outbox size.",
    )
    parser.add_argument(
        "--events",
        type=int,
        default=1_000_000,
        metavar="N",
        help="messages to publish, QoS 1 (default: %(default)s)",
    )
    parser.add_argument(
        "--idle",
        type=float,
        default=3.0,
        metavar="S",
        help="seconds to let the started bridge settle before the idle reading "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="PATH",
        help="another checkout whose mqtt_bridge is measured first, the same way",
    )
    args = parser.parse_args(argv)
    if args.baseline is not None and not (args.baseline / "mqtt_bridge").is_dir():
        parser.error(f"--baseline: no mqtt_bridge package in {args.baseline}")
    if args.events < 10 or args.idle < 0:
        parser.error("--events must be at least 10 and --idle not negative")
    return args


def outbox_bytes(state: Path) -> int:
    return sum(
        p.stat().st_size for p in (state / OUTBOX_FILE, state / f"{OUTBOX_FILE}-wal") if p.exists()
    )


def committed(reader: sqlite3.Connection | None) -> dict[str, int]:
    if reader is None:
        return {}
    return dict(reader.execute("SELECT name, value FROM counters"))


def start_bridge(
    cleanup: Cleanup, work: Path, cfg: Path, idle: float, tree: Path | None = None
) -> subprocess.Popen[bytes]:
    """``exist-bridge run -c cfg`` in a subprocess (its log in ``work``; ``tree``: the checkout
    whose ``mqtt_bridge`` to run, else this one's), once it has opened its outbox and had
    ``idle`` seconds to settle."""
    log = open(work / "bridge.log", "w")  # noqa: SIM115 - closed with the temp dir
    cleanup.call(log.close)
    path = ""
    if tree is not None:  # a folder holding only a link to that mqtt_bridge goes first
        link = work / "tree"
        link.mkdir()
        (link / "mqtt_bridge").symlink_to(tree.resolve() / "mqtt_bridge")
        path = f"sys.path.insert(0, {str(link)!r}); "
    bridge = cleanup.process(
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                f"import sys; {path}from mqtt_bridge.cli import main; sys.exit(main())",
                "run",
                "-c",
                str(cfg),
            ],
            cwd=ROOT,
            stdout=log,
            stderr=log,
        )
    )
    deadline = time.monotonic() + 60
    while not (work / "state" / OUTBOX_FILE).exists():
        if bridge.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the bridge did not start; see {work / 'bridge.log'}")
        time.sleep(0.1)
    time.sleep(idle)
    if bridge.poll() is not None:
        raise RuntimeError(f"the bridge exited; see {work / 'bridge.log'}")
    return bridge


def take_in(
    n: int,
    port: int,
    bridge: subprocess.Popen[bytes],
    reader: sqlite3.Connection,
    work: Path,
    reading: Callable[[str, int, int], None],
) -> float:
    """Publish ``n`` messages (a thread) while ``reading`` the bridge at 10, 25, 50, 75 and 100%
    committed; the seconds until all were committed."""
    published = [0]
    failure: list[BaseException] = []

    def publisher() -> None:
        try:
            publish(
                port,
                message_stream(n),
                qos=1,
                inflight=100,
                progress=lambda k: published.__setitem__(0, k),
            )
        except BaseException as err:  # noqa: BLE001 - reported by the main thread
            failure.append(err)

    pub = threading.Thread(target=publisher, name="publisher", daemon=True)
    start = time.monotonic()
    pub.start()
    marks = sorted({max(1, round(n * f)) for f in (0.1, 0.25, 0.5, 0.75, 1.0)})
    while marks:
        if failure:
            raise RuntimeError(f"publishing failed: {failure[0]!r}")
        if bridge.poll() is not None:
            raise RuntimeError(f"the bridge exited; see {work / 'bridge.log'}")
        if time.monotonic() - start > max(600, n / 200):
            raise RuntimeError(f"only {committed(reader).get('messages', 0)} committed")
        done = committed(reader).get("messages", 0)
        while marks and done >= marks[0]:
            reading(f"{marks.pop(0):,} committed", done, published[0])
        time.sleep(0.25)
    elapsed = time.monotonic() - start
    pub.join(60)
    return elapsed


def stop_bridge(bridge: subprocess.Popen[bytes]) -> str:
    """SIGTERM, a clean stop (cleanup kills it if it hangs); how it went."""
    stopping = time.monotonic()
    bridge.send_signal(signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        bridge.wait(90)
    if bridge.returncode is None:
        return "still running after 90s (killed)"
    return f"exit code {bridge.returncode} after {time.monotonic() - stopping:.1f}s"


def measure(args: argparse.Namespace, tree: Path | None, label: str) -> tuple[bool, float]:
    """One full measurement (own broker, state and bridge process) of the bridge from ``tree``
    (None: this checkout), printed as a table; (all N committed, peak RSS in MB)."""
    n = args.events
    print(f"\n{label}:")
    with Cleanup() as cleanup:
        work = cleanup.tempdir("bench-memory-")
        (work / "broker").mkdir()
        broker = Broker(work / "broker", max_queued=n + 100_000).start(cleanup)
        state = work / "state"
        cfg = work / "bridge.yaml"
        cfg.write_text(
            bridge_config(
                exist_url=f"http://127.0.0.1:{free_port()}",  # nothing listens there
                token="0" * 40,
                mqtt_port=broker.port,
                client_id=CLIENT_ID,
                state_dir=state,
            )
        )
        prepare_session(broker.port, CLIENT_ID, TOPICS, 1)
        bridge = start_bridge(cleanup, work, cfg, args.idle, tree)
        reader = sqlite3.connect(f"file:{state / OUTBOX_FILE}?mode=ro", uri=True)
        cleanup.call(reader.close)

        rows: list[list[object]] = []

        def reading(label: str, done: int, published: int) -> None:
            rss, hwm = rss_mb(bridge.pid)
            broker_rss, _ = rss_mb(broker.proc.pid)
            rows.append(
                [
                    label,
                    f"{done:,}",
                    f"{rss:.1f}",
                    f"{hwm:.1f}",
                    f"{outbox_bytes(state) / 1e6:.2f}",
                    f"{max(published - done, 0):,}",
                    f"{broker_rss:.0f}",
                ]
            )
            print(f"  {label}: " + ", ".join(str(c) for c in rows[-1][1:]), flush=True)

        reading("idle", 0, 0)
        elapsed = take_in(n, broker.port, bridge, reader, work, reading)
        counters = committed(reader)
        pending = reader.execute(f"SELECT COUNT(*) FROM totals WHERE {PENDING}")
        pending_rows = pending.fetchone()[0]
        _, peak = rss_mb(bridge.pid)
        stop_note = stop_bridge(bridge)
        dropped = broker.dropped()

    print()
    print(
        table(
            [
                "checkpoint",
                "committed msgs",
                "RSS (MB)",
                "peak RSS (MB)",
                "outbox (MB)",
                "backlog in broker",
                "broker RSS (MB)",
            ],
            rows,
        )
    )
    print()
    print(
        f"{counters.get('messages', 0):,} messages committed in {elapsed:.0f}s "
        f"({counters.get('messages', 0) / elapsed:,.0f}/s): {counters.get('events', 0):,} events, "
        f"{counters.get('skipped', 0):,} skipped; {pending_rows} total(s) pending for Exist; "
        f"bridge peak RSS {peak:.1f} MB"
    )
    print(f"SIGTERM to the bridge (it tries a last flush to the unreachable Exist): {stop_note}")
    if dropped:
        print(f"mosquitto logged: {dropped}")
    if counters.get("messages") != n:
        print(f"ERROR: {counters.get('messages')} committed, expected {n}")
        return False, peak
    return True, peak


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print("bench/memory.py: peak RSS of `exist-bridge run` taking in a backlog with Exist down")
    for line in environment():
        print("  " + line)
    print(f"  {args.events:,} messages (QoS 1), Exist base_url on a closed port")
    peaks: dict[str, float] = {}
    ok = True
    if args.baseline is not None:
        done, peaks["baseline"] = measure(args, args.baseline, f"baseline: {args.baseline}")
        ok = ok and done
    done, peaks["bridge"] = measure(args, None, "this checkout")
    ok = ok and done
    if len(peaks) > 1:
        print(
            f"\npeak RSS: this checkout {peaks['bridge']:.1f} MB, "
            f"baseline {peaks['baseline']:.1f} MB"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; stopped everything started", file=sys.stderr)
        sys.exit(130)
