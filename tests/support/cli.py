"""Run ``exist-bridge`` as a user would (a subprocess, logs on stderr) and poll its log."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

from .bridge import BRIDGE_CMD

WAIT = 30.0  # a bound for polling, not a timing assertion


def write_config(tmp_path: Path, text: str, name: str = "bridge.yaml") -> Path:
    """``text`` written to ``tmp_path/name``; returns the path."""
    path = tmp_path / name
    path.write_text(text)
    return path


class RunningBridge:
    """``exist-bridge [-v] run -c CONFIG [extra]`` with stderr in a file."""

    def __init__(self, config: Path, *extra: str, env: dict | None = None, verbose: bool = False):
        self.log_path = config.parent / f"{config.stem}.log"
        self._log = self.log_path.open("wb")
        args = list(BRIDGE_CMD)
        args += ["-v"] if verbose else []
        args += ["run", "-c", str(config), *extra]
        self.proc = subprocess.Popen(
            args,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = WAIT) -> str:
        """The first log line matching ``pattern`` (a regex); fails with the log if none comes."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.text().splitlines():
                if regex.search(line):
                    return line
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"no log line matching {pattern!r}; the log:\n{self.text()}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
        return self.proc.returncode


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """``exist-bridge ARGS`` in a subprocess (text output)."""
    return subprocess.run(
        [*BRIDGE_CMD, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )
