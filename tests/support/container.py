"""A process started from an image as Docker starts a container, for the image tests, with no
Docker engine and no OCI runtime (none works in every place the tests run: cgroups differ).

The image's file tree is a buildah working container (``buildah from`` + ``buildah mount``).
util-linux's ``unshare`` gives the process its own mount and PID namespaces, so it is PID 1 as
in Docker (a SIGTERM from outside reaches it only when it handles the signal, as ``docker stop``
finds). Inside them, before the image's program runs, :data:`_SETUP` (run by this Python)
bind-mounts the volumes, mounts ``/proc`` and a minimal ``/dev``, remounts the root read-only
when asked (``docker run --read-only``), then chroots, enters the image's ``WorkingDir``,
becomes its ``User`` and execs ``Entrypoint + Cmd`` with its ``Env``. The network is the host's
(``--network host``): the tests' broker, mock and fake Supervisor on 127.0.0.1 are reachable.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .buildah import Buildah

_SETUP = r"""
import json, os, subprocess, sys

spec = json.loads(sys.argv[1])
root = spec["root"]


def mount(*args):
    subprocess.run(["mount", *args], check=True)


mount("--bind", root, root)  # a mount of its own, which can be made read-only
for source, target, read_only in spec["mounts"]:
    mount("--bind", source, root + target)
    if read_only:
        mount("-o", "remount,bind,ro", root + target)
mount("-t", "proc", "proc", root + "/proc")
dev = root + "/dev"
mount("-t", "tmpfs", "-o", "mode=755,nosuid", "tmpfs", dev)
for name in ("null", "zero", "full", "random", "urandom", "tty"):
    if not os.path.exists("/dev/" + name):
        continue
    open(dev + "/" + name, "w").close()
    mount("--bind", "/dev/" + name, dev + "/" + name)
os.symlink("/proc/self/fd", dev + "/fd")
for number, name in enumerate(("stdin", "stdout", "stderr")):
    os.symlink("/proc/self/fd/%d" % number, dev + "/" + name)
os.mkdir(dev + "/shm")
mount("-t", "tmpfs", "-o", "mode=1777,nosuid,nodev", "tmpfs", dev + "/shm")
if spec["read_only"]:
    mount("-o", "remount,bind,ro", root)
os.chroot(root)
os.chdir(spec["workdir"])
os.setgroups(spec["groups"])
os.setgid(spec["gid"])
os.setuid(spec["uid"])
os.execvpe(spec["argv"][0], spec["argv"], spec["env"])
"""


@dataclass(frozen=True)
class Mount:
    """A host path bind-mounted at ``target`` in the container (``-v source:target[:ro]``)."""

    source: Path
    target: str
    read_only: bool = False


@dataclass(frozen=True)
class Identity:
    """Who the process runs as: the image's ``User`` resolved in its own /etc/passwd."""

    uid: int
    gid: int
    groups: tuple[int, ...]
    home: str


class Container:
    """One container of ``image``; use as a context manager (``start()`` on entering, the
    process killed and the working container removed on leaving)."""

    def __init__(
        self,
        buildah: Buildah,
        image: str,
        *,
        log: Path,
        mounts: tuple[Mount, ...] = (),
        env: dict[str, str] | None = None,
        read_only: bool = False,
        args: tuple[str, ...] = (),
        command: tuple[str, ...] | None = None,
    ):
        """``args`` are appended to the image's ``Entrypoint + Cmd``; ``command`` replaces
        them (``docker run --entrypoint``)."""
        self.buildah = buildah
        self.image = image
        self.config = buildah.config(image)
        self.log = log
        self.mounts = mounts
        self.extra_env = env or {}
        self.read_only = read_only
        default = [*(self.config.get("Entrypoint") or []), *(self.config.get("Cmd") or [])]
        self.argv = [*(command if command is not None else default), *args]
        self.name: str | None = None
        self.root: Path | None = None
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Container:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        self.name = self.buildah("from", "--pull-never", self.image).strip()
        self.root = Path(self.buildah("mount", self.name).strip())
        for m in self.mounts:  # Docker makes the mount points in the container's own layer
            target = self.root / m.target.lstrip("/")
            if m.source.is_dir():
                target.mkdir(parents=True, exist_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.touch()
        who = self.identity()
        spec = {
            "root": str(self.root),
            "mounts": [(str(m.source), m.target, m.read_only) for m in self.mounts],
            "read_only": self.read_only,
            "workdir": self.config.get("WorkingDir") or "/",
            "uid": who.uid,
            "gid": who.gid,
            "groups": list(who.groups),
            "env": self.env(),
            "argv": self.argv,
        }
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    "unshare",
                    "--mount",
                    "--pid",
                    "--fork",
                    "--propagation",
                    "private",
                    "--kill-child=SIGKILL",
                    sys.executable,
                    "-c",
                    _SETUP,
                    json.dumps(spec),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def identity(self) -> Identity:
        """The image's ``User`` (``name``, ``uid``, ``uid:gid``; root when empty)."""
        assert self.root is not None
        user, _, group = (self.config.get("User") or "0").partition(":")
        passwd = _table(self.root / "etc/passwd")
        entry = next((e for e in passwd if user in (e[0], e[2])), None)
        if entry is None and not user.isdigit():
            raise AssertionError(f"USER {user} is not in the image's /etc/passwd")
        uid = int(entry[2]) if entry else int(user)
        gid = int(entry[3]) if entry else uid
        groups = _table(self.root / "etc/group")
        if group:
            found = next((g for g in groups if group in (g[0], g[2])), None)
            gid = int(found[2]) if found else int(group)
        name = entry[0] if entry else None
        extra = {int(g[2]) for g in groups if name and name in g[3].split(",")}
        return Identity(uid, gid, tuple(sorted({gid, *extra})), entry[5] if entry else "/")

    def env(self) -> dict[str, str]:
        """The image's ``Env``, then HOSTNAME and HOME as Docker adds them, then the test's."""
        env = dict(item.split("=", 1) for item in self.config.get("Env") or [])
        env.setdefault("HOSTNAME", "exist-test")
        env.setdefault("HOME", self.identity().home)
        env.update(self.extra_env)
        return env

    @property
    def pid(self) -> int:
        """The container's PID 1, as the host numbers it."""
        assert self.proc is not None
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the container exited ({self.proc.returncode})")
            found = children.read_text().split() if children.exists() else []
            if found:
                return int(found[0])
            time.sleep(0.02)
        raise AssertionError("the container's process did not start")

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self, timeout: float) -> tuple[int, float]:
        """``docker stop -t timeout``: SIGTERM to PID 1, SIGKILL if it is still running after
        ``timeout`` seconds. Returns (exit code, seconds it took); a killed process's code is
        137 as Docker reports it."""
        assert self.proc is not None
        started = time.monotonic()
        os.kill(self.pid, signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.pid, signal.SIGKILL)
            self.proc.wait(10)
            return 128 + signal.SIGKILL, time.monotonic() - started
        return (128 - code if code < 0 else code), time.monotonic() - started

    def exec(
        self, argv: list[str], timeout: float = 60, as_root: bool = False
    ) -> subprocess.CompletedProcess:
        """``docker exec``: ``argv`` in the container's namespaces and root, in its working
        directory, as its user (or root: ``docker exec -u 0``), with its environment."""
        who = Identity(0, 0, (0,), "/root") if as_root else self.identity()
        return subprocess.run(
            [
                "nsenter",
                f"--target={self.pid}",
                "--mount",
                "--pid",
                "--root",
                "--wd",
                f"--setuid={who.uid}",
                f"--setgid={who.gid}",
                "--",
                *argv,
            ],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            # SIGKILL to PID 1 ends every process of its PID namespace (unshare's --kill-child
            # does it too, but not once the process has changed its user: the kernel clears
            # the parent-death signal then)
            with contextlib.suppress(AssertionError, ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self.proc.kill()
            self.proc.wait(10)
        if self.name:
            self.buildah("umount", self.name, check=False)
            self.buildah("rm", self.name, check=False)
            self.name = None


def run_once(
    buildah: Buildah, image: str, log: Path, command: tuple[str, ...], timeout: float = 120
) -> tuple[int, str]:
    """``docker run --rm --read-only --entrypoint ... image``: the exit code and the output."""
    with Container(buildah, image, log=log, command=command, read_only=True) as container:
        code = container.wait(timeout)
        return code, container.output()


@dataclass(frozen=True)
class Installed:
    """What an image holds, seen from inside it (:func:`installed`)."""

    version: str  # ``exist-bridge --version``
    module: str  # where ``import mqtt_bridge`` comes from
    importable: tuple[str, ...]  # which of the modules asked about can be imported
    build_files: tuple[str, ...]  # /wheels and /src, if the build left them in the image


def installed(buildah: Buildah, image: str, log: Path, modules: tuple[str, ...]) -> Installed:
    """Run the image once (read-only) to see what it holds: the bridge's version and where its
    package is imported from, which of ``modules`` import, and leftovers of the build."""
    checks = "; ".join(
        f"python3 -c 'import {m}' 2>/dev/null && echo 'import: {m}'" for m in modules
    )
    script = (
        'echo "version: $(exist-bridge --version)"; '
        "echo \"module: $(python3 -c 'import mqtt_bridge; print(mqtt_bridge.__file__)')\"; "
        f"{checks}; "
        'for f in /wheels /src; do if [ -e $f ]; then echo "build file: $f"; fi; done'
    )
    code, out = run_once(buildah, image, log, ("sh", "-c", script))
    assert code == 0, out
    said: dict[str, list[str]] = {}
    for line in out.splitlines():
        key, _, value = line.partition(": ")
        said.setdefault(key, []).append(value)
    return Installed(
        version=said["version"][0],
        module=said["module"][0],
        importable=tuple(said.get("import", [])),
        build_files=tuple(said.get("build file", [])),
    )


def _table(path: Path) -> list[list[str]]:
    """/etc/passwd or /etc/group as lists of fields."""
    if not path.exists():
        return []
    return [line.split(":") for line in path.read_text().splitlines() if line.count(":") >= 3]
