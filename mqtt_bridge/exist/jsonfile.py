"""Small JSON files written atomically (temp file in the same directory + ``os.replace``).

Used for the token file, the request budget and the attribute bootstrap state. Files are created
with mode 0600 (they may hold secrets, and nobody else needs them); a crash mid-write leaves the old
file intact, never a truncated one.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

try:  # POSIX advisory locks; on other platforms only threads of one process are serialised
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class _FileLock:
    def __init__(self) -> None:
        self.rlock = threading.RLock()
        self.depth = 0  # only changed by the thread holding ``rlock``


_file_locks: dict[str, _FileLock] = {}
_file_locks_guard = threading.Lock()


def read_json(path: str | os.PathLike[str]) -> Any:
    """The decoded content of ``path``, or ``None`` if the file does not exist.

    Raises ``ValueError`` for a file that is not valid JSON and ``OSError`` if it can't be read.
    """
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def write_json_atomic(path: str | os.PathLike[str], data: Any, mode: int = 0o600) -> None:
    """Write ``data`` as JSON to ``path`` atomically, the file ending with permissions ``mode``.

    The parent directory is created (mode 0700) when missing.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            if hasattr(os, "fchmod"):
                os.fchmod(f.fileno(), mode)
            json.dump(data, f, indent=2, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


@contextlib.contextmanager
def locked(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive lock for read-modify-write of ``path``: across threads of this process
    and (on POSIX) across processes, through ``<path>.lock``."""
    key = os.path.abspath(path)
    with _file_locks_guard:
        lock = _file_locks.setdefault(key, _FileLock())
    with lock.rlock:
        if fcntl is None or lock.depth:  # no flock, or this thread already holds it
            lock.depth += 1
            try:
                yield
            finally:
                lock.depth -= 1
            return
        lock_path = Path(f"{key}.lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        lock.depth += 1
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            lock.depth -= 1
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
