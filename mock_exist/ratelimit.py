"""The per-token request budget: at most ``limit`` requests in any sliding hour, then 429.

exist.io documents "300 requests/hr per user token" and a 429 past that. It runs Django REST
Framework, whose throttles keep a sliding history of request times and do not count refused
requests; we do the same (assumed). ``Retry-After`` is the whole number of seconds until the oldest
counted request leaves the window.
"""

from __future__ import annotations

import math
from collections import deque

from .clock import Clock
from .errors import Throttled


class RateLimiter:
    def __init__(self, clock: Clock, limit: int = 300, window: float = 3600.0):
        self.clock = clock
        self.limit = limit
        self.window = window
        self._history: dict[str, deque[float]] = {}

    def hit(self, key: str) -> None:
        """Count one request for ``key``, or raise ``Throttled`` if the budget is spent."""
        now = self.clock.timestamp()
        if self.limit <= 0:  # "always throttle": nothing will ever free up, say a whole window
            raise Throttled(max(1, math.ceil(self.window)))
        history = self._history.setdefault(key, deque())
        while history and history[0] <= now - self.window:
            history.popleft()
        if len(history) >= self.limit:
            raise Throttled(max(1, math.ceil(history[0] + self.window - now)))
        history.append(now)

    def used(self, key: str) -> int:
        now = self.clock.timestamp()
        return sum(1 for t in self._history.get(key, ()) if t > now - self.window)

    def reset(self) -> None:
        self._history.clear()
