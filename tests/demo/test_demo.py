"""`exist-bridge demo` runs end to end, verifies itself, and leaves nothing running."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

from ..support.bridge import BRIDGE_CMD

pytestmark = pytest.mark.slow  # mosquitto, subprocesses or seconds of work: see pyproject

DEMO = [*BRIDGE_CMD, "demo"]


@pytest.mark.parametrize("broker", ["mosquitto", "embedded"])
def test_demo_runs_checks_itself_and_cleans_up(broker, tmp_path):
    done = subprocess.run(
        [*DEMO, "--duration", "6", "--delay", "2", "--broker", broker],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    out = done.stdout
    assert "Exist has exactly what the devices sent." in out
    for name in ("fridge_opens", "steps", "mood", "weight"):
        assert re.search(rf"^{name}\s+\S+\s+\S+\s+ok$", out, re.M), out
    published = int(re.search(r"(\d+) messages published", out).group(1))
    assert published > 10
    port = int(re.search(r"on 127\.0\.0\.1:(\d+)", out).group(1))
    with socket.socket() as s:  # the broker is gone
        assert s.connect_ex(("127.0.0.1", port)) != 0
    assert "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []  # its state and broker directories are removed


def test_sigterm_stops_the_demo_and_everything_it_started(tmp_path):
    proc = subprocess.Popen(
        [*DEMO, "--duration", "120", "--delay", "2", "--broker", "mosquitto"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
    try:
        deadline = time.monotonic() + 60
        while not any(re.search(r"on 127\.0\.0\.1:\d+", line) for line in lines):
            assert time.monotonic() < deadline and proc.poll() is None, "".join(lines)
            time.sleep(0.1)
        time.sleep(2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, "".join(lines)
    finally:
        proc.kill()
    out = "".join(lines)
    assert "interrupted: stopping" in out and "Exist has exactly what the devices sent." in out
    port = int(re.search(r"on 127\.0\.0\.1:(\d+)", out).group(1))
    with socket.socket() as s:  # its mosquitto is gone
        assert s.connect_ex(("127.0.0.1", port)) != 0
    assert list(tmp_path.iterdir()) == []


def test_demo_refuses_nonsense_arguments():
    done = subprocess.run([*DEMO, "--duration", "0"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "must be positive" in done.stderr
