"""Issue 16 (5): ``mock-exist`` stops at once on SIGTERM, also as PID 1 (``docker stop``).

As PID 1 of a PID namespace (a container) a signal without a handler is ignored, so before the
handler ``docker stop`` waited its whole timeout and then killed the emulator. The second test
makes the process PID 1 of a new namespace with ``unshare`` (root only).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from ..support.net import free_port

MOCK = [sys.executable, "-m", "mock_exist.cli", "--quiet"]


def _wait_banner(proc: subprocess.Popen) -> None:
    while True:
        line = proc.stdout.readline()
        assert line, f"mock-exist exited early: {proc.communicate(timeout=10)}"
        if line.startswith("Press Ctrl-C"):
            return


def test_sigterm_stops_serving_at_once_and_exits_0(tmp_path):
    port = free_port()
    state = tmp_path / "state.json"
    proc = subprocess.Popen(
        [*MOCK, "--port", str(port), "--state", str(state)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_banner(proc)
        assert requests.get(f"http://127.0.0.1:{port}/_mock/clock", timeout=10).ok
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
        elapsed = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert elapsed < 3, f"took {elapsed:.1f} s"
    assert "mock-exist stopped." in out and state.exists()  # saved on the way out


def _as_pid_1_possible() -> bool:
    return shutil.which("unshare") is not None and os.geteuid() == 0


@pytest.mark.skipif(not _as_pid_1_possible(), reason="needs root and unshare for a PID namespace")
def test_sigterm_stops_it_as_pid_1():
    port = free_port()
    proc = subprocess.Popen(
        ["unshare", "--pid", "--fork", "--mount-proc", *MOCK, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    pid_1 = None
    try:
        _wait_banner(proc)
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        [pid_1] = [int(c) for c in children]  # the emulator: PID 1 inside, pid_1 outside
        [nspid] = [
            line
            for line in Path(f"/proc/{pid_1}/status").read_text().splitlines()
            if line.startswith("NSpid:")
        ]
        assert nspid.split()[-1] == "1", nspid  # PID 1 in its namespace
        started = time.monotonic()
        os.kill(pid_1, signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
        elapsed = time.monotonic() - started
    finally:
        if proc.poll() is None:
            if pid_1 is not None:
                os.kill(pid_1, signal.SIGKILL)
            proc.kill()
            proc.communicate(timeout=10)
    assert elapsed < 3, f"took {elapsed:.1f} s"
    assert "mock-exist stopped." in out, err
