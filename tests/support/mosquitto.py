"""A real ``mosquitto`` broker for tests: own config, free port, start/stop/kill/pause."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from .net import free_port

__all__ = ["Mosquitto", "find_mosquitto", "free_port"]


def find_mosquitto() -> str:
    """The mosquitto executable; a one-line error naming the package when it is missing."""
    for candidate in (
        shutil.which("mosquitto"),
        "/usr/sbin/mosquitto",
        "/usr/local/sbin/mosquitto",
    ):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError(
        "mosquitto is not installed (apt-get install mosquitto); .ci/run installs it"
    )


def _tool(name: str) -> str:
    """A tool installed with mosquitto (``mosquitto_passwd``), beside it or on PATH."""
    found = shutil.which(name) or shutil.which(name, path="/usr/bin:/usr/sbin:/usr/local/bin")
    if not found:
        raise RuntimeError(f"{name} is not installed (it comes with the mosquitto package)")
    return found


class Mosquitto:
    """One broker process on 127.0.0.1:<free port>, persisting its sessions in ``workdir``."""

    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        persistence: bool = True,
        max_inflight: int = 20,
        max_queued: int = 100_000,
        users: dict[str, str] | None = None,
    ):
        """``users``: user name -> password; then anonymous clients are refused."""
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.conf = self.workdir / "mosquitto.conf"
        self.log = self.workdir / "mosquitto.log"
        self.stderr = self.workdir / "mosquitto.stderr"
        self.persistence = persistence
        lines = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous false" if users else "allow_anonymous true",
            f"persistence {'true' if persistence else 'false'}",
            f"persistence_location {self.workdir}/",
            "autosave_interval 1",
            f"max_inflight_messages {max_inflight}",
            f"max_queued_messages {max_queued}",
            "log_type error",
            "log_type warning",
            # a notice: "Outgoing messages are being dropped for client <id>" (a full queue)
            "log_type notice",
            f"log_dest file {self.log}",
        ]
        if users:
            passwords = self.workdir / "passwords"
            passwords.write_text("")
            for user, password in users.items():
                subprocess.run(
                    [_tool("mosquitto_passwd"), "-b", str(passwords), user, password],
                    check=True,
                    capture_output=True,
                )
            lines.append(f"password_file {passwords}")
        if getattr(os, "geteuid", lambda: -1)() == 0:
            # Started as root, mosquitto drops to the ``mosquitto`` user, which can't write into
            # pytest's 0700 temporary directories: every save of the persistence file (and the log)
            # then fails, and a restarted broker has silently lost its sessions and their queued
            # messages. Stay the user the tests run as.
            lines.append("user root")
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 10.0) -> Mosquitto:
        with self.stderr.open("ab") as stderr:
            self.proc = subprocess.Popen(
                [find_mosquitto(), "-c", str(self.conf)],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self._stderr_text()}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.02)
        raise RuntimeError(f"mosquitto did not listen on {self.port}")

    def _stderr_text(self) -> str:
        try:
            return self.stderr.read_text(errors="replace").strip()
        except OSError:
            return ""

    def dropped(self) -> list[str]:
        """The lines where mosquitto said it dropped messages for a client (the queue of its
        offline or slow session was full, ``max_queued``): published, but never delivered."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return []
        return [line for line in text.splitlines() if "messages are being dropped" in line]

    def stop(self) -> None:
        """Graceful stop (SIGTERM): mosquitto saves its persistence file (checked: a broker that
        can't save would lose its sessions on a restart, and a test relying on them would
        fail only when a message happened to be queued at that moment)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            self.proc.wait(10)
            if self.persistence and not (self.workdir / "mosquitto.db").exists():
                self.proc = None
                raise RuntimeError(
                    f"mosquitto did not save its persistence file in {self.workdir}: "
                    f"{self._stderr_text()}"
                )
        self.proc = None

    def wait_saved(self, timeout: float = 15.0, saves: int = 1) -> None:
        """Wait for the next ``saves`` saves of the persistence file (``autosave_interval``), so
        that what the broker knows now (messages acknowledged, queues emptied) survives a SIGKILL.
        Killed before that save, it restarts from the older file: it has lost what it learnt
        since, and re-sends as new messages the ones it had queued then, acknowledged since or
        not. ``saves=2``: also what was still in its socket's buffer now (read before the second
        save, an ``autosave_interval`` later)."""
        assert self.persistence
        db = self.workdir / "mosquitto.db"
        deadline = time.monotonic() + timeout
        for _ in range(saves):
            since = time.time()
            while not (db.exists() and db.stat().st_mtime > since):
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"mosquitto did not save {db} within {timeout}s: {self._stderr_text()}"
                    )
                time.sleep(0.05)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def restart(self) -> None:
        self.stop()
        self.start()
