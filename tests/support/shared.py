"""What a test run makes once for all its pytest-xdist workers (wheels, virtualenvs)."""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest


def once_per_run(
    tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], None]
) -> Path:
    """The directory ``name``, made by ``make(path)`` once per test run: the first worker that
    asks makes it under a file lock, the others wait for it and reuse it (one process alone: the
    first call makes it). Workers never make it twice at the same time, in the same place."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the run's own temporary directory, above each worker's
    path = root / name
    with (root / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / f"{name}.done").exists():
            shutil.rmtree(path, ignore_errors=True)  # a half-made one (its maker failed)
            path.mkdir()
            make(path)
            (root / f"{name}.done").touch()
    return path
