"""`exist-bridge demo` runs end to end, verifies itself, and leaves nothing running."""

from __future__ import annotations

import re
import socket
import subprocess
import sys

import pytest


@pytest.mark.parametrize("broker", ["mosquitto", "embedded"])
def test_demo_runs_checks_itself_and_cleans_up(broker):
    done = subprocess.run(
        [sys.executable, "-c", "from mqtt_bridge.cli import main; raise SystemExit(main())",
         "demo", "--duration", "6", "--flush-interval", "2", "--broker", broker],
        capture_output=True, text=True, timeout=120,
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


def test_demo_refuses_nonsense_arguments():
    done = subprocess.run(
        [sys.executable, "-c", "from mqtt_bridge.cli import main; raise SystemExit(main())",
         "demo", "--duration", "0"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "must be positive" in done.stderr
