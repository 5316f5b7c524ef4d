"""Issue 11, item 4: SIGTERM ends ``exist-bridge run`` within ``bridge.stop_timeout`` even when
Exist accepts connections and never answers; what was not sent stays in the outbox and is sent
after a restart.

Three runs of the real CLI (a subprocess) share one state directory and one real mosquitto:
1. against the mock: attributes set up, a first batch delivered;
2. against a "black hole" that accepts TCP connections and never reads or answers: events are
   taken in, the flush hangs, SIGTERM - the process must exit within the deadline (exit 0) and the
   outbox must still owe Exist exactly the unsent totals;
3. against the mock again: everything arrives, exactly once.
"""

from __future__ import annotations

import signal
import socket
import sqlite3
import subprocess
import threading
import time
from collections import Counter

from mqtt_bridge.pipeline.buffer.rules import PENDING

from ..support.bridge import bridge_process
from ..support.faults import TOPICS, assert_never_double_counted, config_text, landed
from ..support.mqtt import Publisher
from ..support.waiting import wait_until

STOP_TIMEOUT = 4
EXIST_TIMEOUT = 60  # the configured HTTP read timeout: without the deadline a stop waits this out


class BlackHole:
    """Accepts connections and holds them open without ever reading or answering."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.accepted: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.listener.close()
        for conn in self.accepted:
            conn.close()


def start(config_path, log_path):
    log = open(log_path, "ab")  # noqa: SIM115 - the child holds it
    return bridge_process(config_path, stdout=log, stderr=log)


def write_config(path, mock, port, state, base_url) -> None:
    text = config_text(mock, port, state, base_url=base_url)
    text = text.replace("  total_delay: 1\n", f"  total_delay: 1\n  stop_timeout: {STOP_TIMEOUT}\n")
    text = text.replace(
        "  requests_per_hour: 280\n", f"  requests_per_hour: 280\n  timeout: {EXIST_TIMEOUT}\n"
    )
    path.write_text(text)


def pending_totals(state) -> dict[str, int]:
    """What the outbox still owes Exist: attribute -> the day's total (base + delta)."""
    with sqlite3.connect(state / "outbox.sqlite") as db:
        rows = db.execute(f"SELECT attribute, base, delta FROM totals WHERE {PENDING}").fetchall()
    return {a: int(base) + int(delta) for a, base, delta in rows}


def messages_committed(state) -> int:
    with sqlite3.connect(state / "outbox.sqlite") as db:
        row = db.execute("SELECT value FROM counters WHERE name='messages'").fetchone()
    return row[0] if row else 0


def test_sigterm_with_an_exist_that_never_answers_exits_within_the_deadline(
    mock_exist, mosquitto, tmp_path
):
    state = tmp_path / "state"
    cfg = tmp_path / "bridge.yaml"
    log_path = tmp_path / "bridge.log"
    hole = BlackHole()
    pub = Publisher(mosquitto.port)
    truth: Counter[str] = Counter()
    sent = [0]

    def events(n: int) -> None:
        for i in range(n):
            topic = sorted(TOPICS)[i % len(TOPICS)]
            pub.publish(topic, f'{{"n": {sent[0]}}}')
            truth[TOPICS[topic]] += 1
            sent[0] += 1

    def log_since(offset: int) -> str:
        return log_path.read_text(errors="replace")[offset:]

    proc = None
    try:
        # 1. against the mock
        write_config(cfg, mock_exist, mosquitto.port, state, mock_exist.url)
        proc = start(cfg, log_path)
        wait_until(lambda: "subscribed to" in log_since(0), timeout=30)
        events(6)
        wait_until(lambda: landed(mock_exist.state) == dict(truth), timeout=30)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0

        # 2. Exist accepts connections and never answers
        write_config(cfg, mock_exist, mosquitto.port, state, hole.url)
        mark = len(log_path.read_text(errors="replace"))
        proc = start(cfg, log_path)
        wait_until(lambda: "subscribed to" in log_since(mark), timeout=30)
        events(9)
        wait_until(lambda: messages_committed(state) >= sent[0], timeout=30)
        wait_until(lambda: len(hole.accepted) >= 1, timeout=30)  # a request is hanging
        owed = pending_totals(state)
        assert owed == dict(truth), (owed, dict(truth))
        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(EXIST_TIMEOUT / 2)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError(
                f"still running {EXIST_TIMEOUT / 2}s after SIGTERM:\n{log_since(mark)[-2000:]}"
            ) from None
        took = time.monotonic() - began
        print(f"\nSTOP-DEADLINE | stop_timeout {STOP_TIMEOUT}s | exited after {took:.1f}s")
        assert rc == 0, log_since(mark)[-2000:]
        # the deadline, not the hanging request, ended it: the log says so, and the stop took far
        # less than the request's own timeout (no tight bound: the machine may be loaded)
        assert took < EXIST_TIMEOUT / 2, (took, log_since(mark)[-2000:])
        assert "Traceback" not in log_since(mark)
        assert "stop deadline" in log_since(mark)
        assert pending_totals(state) == dict(truth)  # nothing lost, still owed
        assert landed(mock_exist.state) != dict(truth)

        # 3. the mock again: everything arrives, exactly once
        write_config(cfg, mock_exist, mosquitto.port, state, mock_exist.url)
        proc = start(cfg, log_path)
        wait_until(lambda: landed(mock_exist.state) == dict(truth), timeout=30)
        wait_until(lambda: not pending_totals(state), timeout=30)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert_never_double_counted(mock_exist.state, truth)
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        pub.close()
        hole.close()
