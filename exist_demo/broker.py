"""An MQTT broker for the demo: ``mosquitto`` from PATH, else the embedded ``amqtt`` broker.

mosquitto is preferred (it is what most home setups run, and what the tests use). amqtt, installed
with ``pip install 'exist-mqtt-bridge[demo]'`` (or ``[broker]``), is the fallback: pure Python
(asyncio), maintained (the successor of hbmqtt), and it supports the QoS 1 persistent sessions
the bridge relies on.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_listening(port: int, timeout: float, alive) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError("the broker exited at start-up")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"the broker did not listen on 127.0.0.1:{port}")


def find_mosquitto() -> str | None:
    for path in (shutil.which("mosquitto"), "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"):
        if path and os.access(path, os.X_OK):
            return path
    return None


class MosquittoBroker:
    name = "mosquitto"

    def __init__(self, executable: str, workdir: Path):
        self.executable = executable
        self.workdir = workdir
        self.port = free_port()
        conf = workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            f"log_dest file {workdir / 'mosquitto.log'}\n"
        )
        self.proc = subprocess.Popen(
            [executable, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _wait_listening(self.port, 10, lambda: self.proc.poll() is None)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        shutil.rmtree(self.workdir, ignore_errors=True)


class EmbeddedBroker:
    """amqtt's broker on its own event loop in a thread."""

    name = "amqtt (embedded)"

    def __init__(self) -> None:
        from amqtt.broker import Broker  # the optional [broker] extra

        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
            "sys_interval": 0,
            "auth": {"allow-anonymous": True},
            "topic-check": {"enabled": False},
        }
        self.broker = Broker(config, loop=self.loop)
        self.thread = threading.Thread(target=self.loop.run_forever, name="amqtt", daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.broker.start(), self.loop).result(15)
        _wait_listening(self.port, 10, self.thread.is_alive)

    def stop(self) -> None:
        try:
            asyncio.run_coroutine_threadsafe(self.broker.shutdown(), self.loop).result(15)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)


def start_broker(choice: str = "auto"):  # noqa: ANN201
    """``auto``: mosquitto if on PATH, else embedded; or force ``mosquitto``/``embedded``."""
    executable = find_mosquitto()
    if choice in ("auto", "mosquitto") and executable:
        return MosquittoBroker(executable, Path(tempfile.mkdtemp(prefix="exist-demo-broker-")))
    if choice == "mosquitto":
        raise RuntimeError("mosquitto is not installed (apt-get install mosquitto)")
    try:
        return EmbeddedBroker()
    except ImportError:
        raise RuntimeError(
            "no MQTT broker: install mosquitto (apt-get install mosquitto) or the embedded one "
            "(pip install 'exist-mqtt-bridge[demo]')"
        ) from None
