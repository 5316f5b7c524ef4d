"""`exist-bridge demo` runs end to end, verifies itself, and leaves nothing running."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from ..support.bridge import BRIDGE_CMD

pytestmark = pytest.mark.slow  # mosquitto, subprocesses or seconds of work: see pyproject

DEMO = [*BRIDGE_CMD, "demo"]


def processes_started_in(folder: Path) -> list[str]:
    """Processes whose command line names ``folder`` (the demo's mosquitto runs on a config in
    its temporary directory there). Not the port: under parallel tests another test's server may
    take a freed port at once."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile
            continue
        if str(folder) in command:
            found.append(f"{proc.name}: {command}")
    return found


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
    assert processes_started_in(tmp_path) == []  # the broker is gone
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
    assert processes_started_in(tmp_path) == []  # its mosquitto is gone
    assert list(tmp_path.iterdir()) == []


def test_demo_refuses_nonsense_arguments():
    done = subprocess.run([*DEMO, "--duration", "0"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "must be positive" in done.stderr
