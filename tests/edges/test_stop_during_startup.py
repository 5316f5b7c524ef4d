"""SIGTERM while the first start waits for the Exist profile (no exist.timezone, none remembered)
and Exist accepts connections but never answers: the wait is said at once, and the process ends
within bridge.stop_timeout instead of sitting out the HTTP client's timeouts and retries."""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
import time

from ..support.bridge import bridge_process
from ..support.config import write_bridge_config
from ..support.waiting import wait_until


class BlackHole:
    """Accepts connections and never answers (an Exist that hangs)."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def _accept(self) -> None:
        while True:
            try:
                self.accepted.append(self.listener.accept()[0])
            except OSError:
                return

    def close(self) -> None:
        self.listener.close()
        for conn in self.accepted:
            conn.close()


STOP_TIMEOUT = 3


def test_sigterm_while_waiting_for_the_profile_ends_within_the_stop_deadline(tmp_path):
    hole = BlackHole()
    cfg = write_bridge_config(
        tmp_path / "bridge.yaml",
        url=hole.url,
        token="t0ken",
        port=1,
        timezone=None,
        state_dir=tmp_path / "state",
        attributes=[{"template": "coffees"}],
        mappings=[{"topic": "a", "attribute": "coffees"}],
        exist={"timeout": 30},
        bridge={"stop_timeout": STOP_TIMEOUT},
    )
    log_path = tmp_path / "bridge.log"
    with open(log_path, "wb") as log:
        proc = bridge_process(cfg, stdout=log, stderr=subprocess.STDOUT)
    try:
        started = time.monotonic()
        # said at once, not after the first request timed out
        wait_until(lambda: "waiting for the Exist profile" in log_path.read_text(), timeout=10)
        said_after = time.monotonic() - started
        wait_until(lambda: hole.accepted, timeout=10)  # the request hangs in Exist now
        asked = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
        took = time.monotonic() - asked
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        hole.close()
    text = log_path.read_text()
    assert code == 0, text
    assert took < STOP_TIMEOUT + 2, f"SIGTERM took {took:.1f}s\n{text}"
    assert said_after < 8, text
    assert "exist.base_url" in text or hole.url.split("//")[1] in text, text
    assert "Traceback" not in text
