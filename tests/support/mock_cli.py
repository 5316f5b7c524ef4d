"""``mock-exist`` as a subprocess on a free port, started and stopped as a user would."""

from __future__ import annotations

import signal
import subprocess
import sys

from .net import free_port

__all__ = ["start_mock", "stop_mock"]


def start_mock(
    *args: str, command: list[str] | None = None, **popen: object
) -> tuple[subprocess.Popen, int, list[str]]:
    """``mock-exist --port <free> --quiet <args>``, returned once its banner is printed:
    (process, port, the banner's lines). Fails with its output if it exits first. ``command``
    replaces this interpreter's ``-m mock_exist.cli`` (e.g. an installed ``mock-exist``)."""
    port = free_port()
    proc = subprocess.Popen(
        [*(command or [sys.executable, "-m", "mock_exist.cli"]), "--port", str(port), "--quiet"]
        + list(args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,  # type: ignore[call-overload]
    )
    lines = []
    while True:  # the banner ends with "Press Ctrl-C to stop."
        line = proc.stdout.readline()
        assert line, f"mock-exist exited early: {proc.communicate(timeout=10)}"
        lines.append(line)
        if line.startswith("Press Ctrl-C"):
            return proc, port, lines


def stop_mock(proc: subprocess.Popen) -> tuple[str, str]:
    """SIGTERM, then the rest of its (stdout, stderr)."""
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    return out, err
