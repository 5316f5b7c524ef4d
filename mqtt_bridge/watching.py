"""Reload when the configuration file changes (``run --watch-config``; the add-on's
``watch_config`` option): off by default.

The files are read every ``WATCH_INTERVAL`` seconds and compared by their content's digest (a
``touch`` is no change), which works on every platform and file system the
bridge runs on, network shares and container bind mounts included, where change notifications
(inotify) are unreliable or absent. A change counts once the file has stayed the same for one
more look, so an editor that writes a file in several steps triggers one reload of the finished
file, not one per step. What a change then does is exactly a ``SIGHUP``'s (see ``reloading``):
a file with problems is refused and the running configuration stays.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable
from pathlib import Path

WATCH_INTERVAL = 2.0

Fingerprint = tuple[str | None, ...]


class FileWatch:
    """Tells when any of ``paths`` changed (``changed``), looking every ``interval`` seconds."""

    def __init__(
        self,
        paths: Iterable[Path],
        interval: float = WATCH_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.paths = [Path(p) for p in paths]
        self.interval = interval
        self.clock = clock
        self._seen = self._fingerprint()  # what the running configuration was read from
        self._pending: Fingerprint | None = None  # a change waiting to stay still for a look
        self._next = clock() + interval

    def changed(self) -> bool:
        """True once per change, when it is time to look and the files differ from what was
        last reported and have stayed the same since the previous look."""
        now = self.clock()
        if now < self._next:
            return False
        self._next = now + self.interval
        current = self._fingerprint()
        if current == self._seen or None in current:  # a missing file: when it is back
            self._pending = None
            return False
        if current != self._pending:  # still being written, or a first sight of the change
            self._pending = current
            return False
        self._seen, self._pending = current, None
        return True

    def _fingerprint(self) -> Fingerprint:
        """Each file's content digest, None for one that can't be read (being replaced, or
        removed)."""
        prints: list[str | None] = []
        for path in self.paths:
            try:
                prints.append(hashlib.sha256(path.read_bytes()).hexdigest())
            except OSError:
                prints.append(None)
        return tuple(prints)
