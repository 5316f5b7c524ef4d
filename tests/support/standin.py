"""A stand-in for the Python base images that can't be pulled here.

The Dockerfiles build on ``python:3.11-slim-bookworm`` (docker.io) and Home Assistant's
``base-python`` (ghcr.io); neither registry is reachable from the machines this project is
tested on, Debian's archive is. So the image tests pass, as the base build argument, a Debian
bookworm made with ``debootstrap`` (``--variant=minbase`` with python3, python3-venv, python3-pip
and ca-certificates), imported into buildah's storage with ``buildah from scratch`` + copy +
commit. It behaves as those bases do where the Dockerfiles rely on it: ``python``/``pip`` on the
PATH, and ``pip install`` into the system Python (Debian's "externally managed" marker removed,
as those images build their own Python). It trusts what this machine trusts (the host's CA
bundle is copied in), so ``pip`` inside a build reaches PyPI through a TLS-inspecting proxy too.

The image is kept in :func:`~tests.support.buildah.cache_dir`'s storage and reused by later runs.
Its tag is a digest of everything it is made from (suite, mirror, packages, the tweaks' version
below, the host's CA bundle): a change of any of them makes a new one. An image older than
:data:`MAX_AGE_DAYS` is made anew too, so Debian's security updates come in. A lock file keeps
two test runs from making it at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .buildah import Buildah, cache_dir
from .extras import skip_or_fail

NAME = "localhost/exist-mqtt-bridge-standin-python"
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("python3", "python3-venv", "python3-pip", "ca-certificates")
TWEAKS_VERSION = 1  # bump when tweak() changes: it changes the tag, so the cache is made anew
MAX_AGE_DAYS = 30
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
PATH = "/usr/local/bin:/usr/local/sbin:/usr/bin:/usr/sbin:/bin:/sbin"


def standin_image(buildah: Buildah) -> str:
    """The stand-in base's image name, made first if missing or stale (about 2.5 minutes)."""
    image = f"{NAME}:{recipe_key()}"
    with _locked(cache_dir() / "standin.lock"):
        if buildah.exists(image) and _age_days(buildah, image) < MAX_AGE_DAYS:
            return image
        for stale in _tags(buildah):
            buildah.remove(stale)
        _make(buildah, image)
    return image


def recipe_key() -> str:
    """16 hex digits of the digest of what the stand-in is made from."""
    recipe = {
        "suite": SUITE,
        "mirror": MIRROR,
        "packages": PACKAGES,
        "tweaks": TWEAKS_VERSION,
        "ca": hashlib.sha256(HOST_CA_BUNDLE.read_bytes()).hexdigest()
        if HOST_CA_BUNDLE.is_file()
        else None,
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def tweak(rootfs: Path) -> None:
    """Make the debootstrapped tree behave as the Python base images do for the Dockerfiles,
    and smaller (no package lists, caches, manuals)."""
    for marker in rootfs.glob("usr/lib/python3*/EXTERNALLY-MANAGED"):
        marker.unlink()
    for name, target in (("python", "/usr/bin/python3"), ("pip", "/usr/bin/pip3")):
        link = rootfs / "usr/local/bin" / name
        link.unlink(missing_ok=True)
        link.symlink_to(target)
    if HOST_CA_BUNDLE.is_file():
        shutil.copyfile(HOST_CA_BUNDLE, rootfs / "etc/ssl/certs/ca-certificates.crt")
    for junk in ("var/cache/apt", "var/lib/apt/lists", "usr/share/doc", "usr/share/man"):
        for path in (rootfs / junk).glob("*"):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()


def _make(buildah: Buildah, image: str) -> None:
    debootstrap = shutil.which("debootstrap") or shutil.which("debootstrap", path="/usr/sbin")
    if not debootstrap:
        skip_or_fail("debootstrap is not installed (apt-get install debootstrap); .ci/run does")
    with tempfile.TemporaryDirectory(dir=cache_dir(), prefix="standin-") as work:
        rootfs = Path(work) / "rootfs"
        result = subprocess.run(
            [
                debootstrap,
                "--variant=minbase",
                f"--include={','.join(PACKAGES)}",
                SUITE,
                str(rootfs),
                MIRROR,
            ],
            capture_output=True,
            text=True,
            timeout=1200,
        )
        if result.returncode != 0:
            raise RuntimeError(f"debootstrap failed: {(result.stdout + result.stderr)[-3000:]}")
        tweak(rootfs)
        container = buildah("from", "scratch").strip()
        try:
            mount = buildah("mount", container).strip()
            subprocess.run(["cp", "-a", f"{rootfs}/.", mount], check=True, timeout=600)
            buildah("umount", container)
            buildah(
                "config",
                "--env",
                f"PATH={PATH}",
                "--env",
                "LANG=C.UTF-8",
                "--cmd",
                "python3",
                "--label",
                f"org.opencontainers.image.description=stand-in for a Python base image: "
                f"debootstrap {SUITE} + {' '.join(PACKAGES)}",
                container,
            )
            buildah("commit", "--format", "docker", container, image, timeout=600)
        finally:
            buildah("rm", container, check=False)


def _tags(buildah: Buildah) -> list[str]:
    listed = json.loads(buildah("images", "--json", check=False) or "[]")
    return [n for image in listed for n in image.get("names") or [] if n.startswith(NAME + ":")]


def _age_days(buildah: Buildah, image: str) -> float:
    listed = json.loads(buildah("images", "--json", image))
    return (time.time() - float(listed[0]["created"])) / 86400


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
