"""The per-token request budget: at most ``limit`` requests per ``window`` seconds, then 429.

exist.io documents "300 requests/hr per user token" and a 429 past that. Two ways to count:

- ``sliding`` (default): Django REST Framework's throttle, which exist.io runs on, keeps a sliding
  history of request times and does not count refused requests; we do the same (assumed).
  ``Retry-After`` is the whole number of seconds until the oldest counted request leaves the window.
- ``fixed``: windows aligned on the clock (whole hours for the default 3600 s: "rate-limited until
  the next hour", as Exist's read guide words it); the count starts again at each boundary and
  ``Retry-After`` is the seconds until the next one.

``retry_after=False`` leaves the header out of the 429 (a client must then guess).
"""

from __future__ import annotations

import math
from collections import deque

from .clock import Clock
from .errors import Throttled

MODES = ("sliding", "fixed")


class RateLimiter:
    def __init__(
        self,
        clock: Clock,
        limit: int = 300,
        window: float = 3600.0,
        mode: str = "sliding",
        retry_after: bool = True,
    ):
        self.clock = clock
        self.limit = limit
        self.window = window
        self.mode = mode
        self.retry_after = retry_after
        self._history: dict[str, deque[float]] = {}
        self._fixed: dict[str, tuple[int, int]] = {}  # key -> (window number, requests in it)

    def configure(
        self,
        limit: int,
        window: float | None = None,
        mode: str | None = None,
        retry_after: bool | None = None,
    ) -> None:
        """Change the rules (``None`` keeps a setting); the caller checked the values
        (``MockExist.set_rate_limit``)."""
        self.limit = limit
        if window is not None and window != self.window:
            self.window = window
            self._fixed.clear()  # window numbers mean something else now
        if mode is not None:
            self.mode = mode
        if retry_after is not None:
            self.retry_after = retry_after

    def _throttle(self, seconds: float) -> Throttled:
        err = Throttled(max(1, math.ceil(seconds)))
        if not self.retry_after:
            err.headers.pop("Retry-After", None)
        return err

    def hit(self, key: str) -> None:
        """Count one request for ``key``, or raise ``Throttled`` if the budget is spent."""
        now = self.clock.timestamp()
        if self.limit <= 0:  # "always throttle": nothing will ever free up, say a whole window
            raise self._throttle(self.window)
        if self.mode == "fixed":
            number = math.floor(now / self.window)
            seen, used = self._fixed.get(key, (number, 0))
            if seen != number:
                used = 0
            if used >= self.limit:
                raise self._throttle((number + 1) * self.window - now)
            self._fixed[key] = (number, used + 1)
            return
        history = self._history.setdefault(key, deque())
        while history and history[0] <= now - self.window:
            history.popleft()
        if len(history) >= self.limit:
            raise self._throttle(history[0] + self.window - now)
        history.append(now)

    def used(self, key: str) -> int:
        """Requests of ``key`` counted in its current window."""
        now = self.clock.timestamp()
        if self.mode == "fixed":
            seen, used = self._fixed.get(key, (None, 0))
            return used if seen == math.floor(now / self.window) else 0
        return sum(1 for t in self._history.get(key, ()) if t > now - self.window)

    def resets_in(self, key: str) -> float:
        """Seconds until ``key``'s next request slot frees up (0 when it has room now)."""
        now = self.clock.timestamp()
        if self.used(key) < self.limit:
            return 0.0
        if self.mode == "fixed":
            return (math.floor(now / self.window) + 1) * self.window - now
        history = [t for t in self._history.get(key, ()) if t > now - self.window]
        return max(0.0, history[0] + self.window - now) if history else 0.0

    def tokens(self) -> list[str]:
        """Every key (access token) with counted requests."""
        return sorted(set(self._history) | set(self._fixed))

    def settings(self) -> dict:
        return {
            "limit": self.limit,
            "window": self.window,
            "mode": self.mode,
            "retry_after": self.retry_after,
        }

    def reset(self) -> None:
        self._history.clear()
        self._fixed.clear()
