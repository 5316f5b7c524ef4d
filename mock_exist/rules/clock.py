"""A controllable clock: every notion of "now" in the mock (users' today, token expiry, the
rate-limit window, code expiry) comes from one ``Clock``."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone


class Clock:
    """Wall-clock time shifted by an offset, or frozen at a chosen instant.

    ``set(dt)`` moves the clock to ``dt`` and, unless ``frozen=False``, stops it there;
    ``advance(seconds)`` moves it forward either way; ``resume()`` lets a frozen clock tick again.
    """

    def __init__(self, start: datetime | None = None, frozen: bool = False):
        self._lock = threading.Lock()
        self._offset = 0.0
        self._frozen_at: float | None = None
        if start is not None:
            self.set(start, frozen=frozen)

    def timestamp(self) -> float:
        with self._lock:
            if self._frozen_at is not None:
                return self._frozen_at
            return time.time() + self._offset

    def now(self) -> datetime:
        """The current instant, timezone-aware in UTC."""
        return datetime.fromtimestamp(self.timestamp(), tz=timezone.utc)

    @property
    def frozen(self) -> bool:
        return self._frozen_at is not None

    def set(self, when: datetime, frozen: bool = True) -> None:
        if when.tzinfo is None:
            raise ValueError("the clock needs a timezone-aware datetime")
        target = when.timestamp()
        with self._lock:
            if frozen:
                self._frozen_at = target
            else:
                self._frozen_at = None
                self._offset = target - time.time()

    def advance(self, seconds: float) -> None:
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at += seconds
            else:
                self._offset += seconds

    def resume(self) -> None:
        with self._lock:
            if self._frozen_at is not None:
                self._offset = self._frozen_at - time.time()
                self._frozen_at = None

    @property
    def offset(self) -> float:
        """Seconds this clock is ahead of the wall clock (now, for a frozen one)."""
        return self.timestamp() - time.time()

    def set_offset(self, seconds: float) -> None:
        """Run (unfrozen) ``seconds`` ahead of the wall clock."""
        with self._lock:
            self._frozen_at = None
            self._offset = seconds

    def reset(self) -> None:
        with self._lock:
            self._offset = 0.0
            self._frozen_at = None

    def to_json(self) -> dict:
        return {"now": self.now().isoformat(), "frozen": self.frozen}
