"""The ``mock-exist`` command: help, argument errors, and a real run on a free port."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

import pytest
import requests

from ..support.net import free_port

pytestmark = pytest.mark.slow  # mosquitto, subprocesses or seconds of work: see pyproject

TOKEN = "0123456789abcdef0123456789abcdef01234567"


def run(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mock_exist.cli", *args],
        capture_output=True,
        text=True,
        timeout=30,
        **kwargs,
    )


def test_help_explains_the_options():
    done = run("--help")
    assert done.returncode == 0
    for option in (
        "--port",
        "--token",
        "--client-id",
        "--client-secret",
        "--redirect-uri",
        "--timezone",
        "--rate-limit",
    ):
        assert option in done.stdout
    assert "examples:" in done.stdout


def test_bad_arguments_are_one_line_errors_not_tracebacks():
    for args, message in [
        (("--token", "xyz"), "40 lowercase hex"),
        (("--timezone", "Mars/Olympus"), "unknown IANA timezone"),
        (("--rate-limit", "0"), "at least 1"),
    ]:
        done = run(*args)
        assert done.returncode == 2
        assert message in done.stderr and "Traceback" not in done.stderr


def test_port_in_use_is_a_clear_error():
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        done = run("--port", str(busy.getsockname()[1]))
    assert done.returncode == 1
    assert "cannot listen" in done.stderr and "Traceback" not in done.stderr


def test_runs_serves_the_token_and_stops_on_ctrl_c():
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mock_exist.cli",
            "--port",
            str(port),
            "--token",
            TOKEN,
            "--timezone",
            "Europe/Paris",
            "--quiet",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = [proc.stdout.readline() for _ in range(6)]
        assert re.search(rf"listening on http://127\.0\.0\.1:{port}", lines[0])
        assert any(TOKEN in line for line in lines)
        r = requests.get(
            f"http://127.0.0.1:{port}/api/2/accounts/profile/",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        )
        assert r.status_code == 200 and r.json()["timezone"] == "Europe/Paris"
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "mock-exist stopped." in out
