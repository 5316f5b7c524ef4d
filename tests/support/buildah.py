"""buildah for the tests: builds the project's Dockerfiles without a Docker engine.

Run as root with its own storage (``--storage-driver vfs``, which needs no kernel overlay and
works inside a container) under :func:`cache_dir`, and ``--isolation chroot`` for ``RUN``
steps (no OCI runtime, no cgroups). Images are built in the ``docker`` format, so the
``HEALTHCHECK`` is kept in the image's configuration as Docker keeps it.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from .extras import skip_or_fail

ROOT = Path(__file__).resolve().parents[2]
#: this checkout's version (the add-on image's BUILD_VERSION)
VERSION = (ROOT / "VERSION").read_text(encoding="utf-8").strip()
#: Home Assistant's name for this machine's architecture (the add-on image's BUILD_ARCH)
ARCH = {"x86_64": "amd64", "aarch64": "aarch64", "arm64": "aarch64"}.get(platform.machine(), "")
#: the project's test images are named localhost/<PREFIX>-<what>:<unique tag>
PREFIX = "exist-mqtt-bridge-test"
#: a test image left behind by an interrupted run is removed by a later run after this long
LEFTOVER_AGE = 6 * 3600


def cache_dir() -> Path:
    """Where the images are kept between runs: ``<temp dir>/exist-mqtt-bridge-images`` (buildah's
    storage, the stand-in base's lock). Deleting it only costs the next run the stand-in's
    debootstrap (about 2.5 minutes)."""
    return Path(tempfile.gettempdir()) / "exist-mqtt-bridge-images"


class BuildError(AssertionError):
    """``buildah bud`` failed; the message ends with its output, ``log`` holds all of it."""

    def __init__(self, message: str, log: str):
        super().__init__(message)
        self.log = log


@dataclass
class Built:
    """An image built by :meth:`Buildah.build`."""

    name: str
    seconds: float
    log: str


class Buildah:
    """The ``buildah`` command on the tests' own storage."""

    def __init__(self, storage: Path | None = None):
        storage = storage or cache_dir()
        self.exe = require_buildah()
        self.storage = storage
        self.global_args = [
            "--storage-driver",
            "vfs",
            "--root",
            str(storage / "storage"),
            "--runroot",
            str(storage / "run"),
        ]

    def __call__(self, *args: str, timeout: float = 120, check: bool = True) -> str:
        """Run ``buildah ARGS``; its stdout. A failure raises with buildah's own message."""
        result = subprocess.run(
            [self.exe, *self.global_args, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"buildah {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def build(
        self,
        what: str,
        dockerfile: Path,
        *,
        build_args: dict[str, str],
        target: str | None = None,
        context: Path = ROOT,
        timeout: float = 900,
    ) -> Built:
        """``buildah bud`` of ``dockerfile`` with ``context`` (the repository root, as the
        Dockerfiles say); the image is named ``localhost/exist-mqtt-bridge-test-<what>:<unique>``
        so parallel runs never share a name. Raises :class:`BuildError` when the build fails."""
        name = f"localhost/{PREFIX}-{what}:{uuid.uuid4().hex[:12]}"
        argv = [
            "bud",
            "--isolation",
            "chroot",
            "--format",
            "docker",
            "--layers=false",
            "--force-rm",  # a failed build leaves no working container behind
            "--pull-never",
            "-f",
            str(dockerfile),
            "-t",
            name,
        ]
        for key, value in build_args.items():
            argv += ["--build-arg", f"{key}={value}"]
        if target:
            argv += ["--target", target]
        started = time.monotonic()
        result = subprocess.run(
            [self.exe, *self.global_args, *argv, str(context)],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        log = result.stdout + result.stderr
        if result.returncode != 0:
            raise BuildError(f"buildah bud {dockerfile} failed:\n{log[-6000:]}", log)
        return Built(name, time.monotonic() - started, log)

    def config(self, image: str) -> dict:
        """The image's configuration as Docker shows it (``Config``: User, Env, Entrypoint,
        Cmd, WorkingDir, Labels, Healthcheck, Volumes)."""
        inspected = json.loads(self("inspect", "--type", "image", image))
        return inspected["Docker"]["config"]

    def size(self, image: str) -> str:
        """The image's size unpacked, as ``buildah images`` (and ``docker images``) show it."""
        return json.loads(self("images", "--json", image))[0]["size"]

    def exists(self, image: str) -> bool:
        return self("inspect", "--type", "image", image, check=False) != ""

    def remove(self, image: str) -> None:
        """Remove a test image (its containers first); quiet when it is already gone."""
        self("rmi", "--force", image, check=False)

    def remove_leftovers(self) -> None:
        """Test images older than :data:`LEFTOVER_AGE` (a run killed before its clean-up); a
        running test's images are younger, so runs side by side never remove each other's."""
        listed = json.loads(self("images", "--json", check=False) or "[]")
        now = time.time()
        for image in listed:
            names = [n for n in image.get("names") or [] if f"/{PREFIX}-" in n]
            created = image.get("created", now)
            if names and now - float(created) > LEFTOVER_AGE:
                for name in names:
                    self.remove(name)


def require_buildah() -> str:
    """buildah's path; skips the test (fails under CI=true) when buildah is missing or the
    tests don't run as root (vfs storage and chroot isolation need root)."""
    found = shutil.which("buildah")
    if not found:
        skip_or_fail("buildah is not installed (apt-get install buildah); .ci/run installs it")
    if os.geteuid() != 0:
        skip_or_fail("building images with buildah here needs root (as .ci/run runs)")
    return found  # type: ignore[return-value]
