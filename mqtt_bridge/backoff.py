"""How long the bridge waits before trying again: every retry loop's delays, in one place.

Each failure doubles the wait, up to a cap; a success starts over. The loops: reading the Exist
profile at start, setting up the attributes, writing the state database (the ingest writer) and
sending to Exist during an outage (the flusher's postponements). Exist's own waits (a 429's
``Retry-After``, the request budget) and the client's retries inside one request are not here:
they are the Exist client's.
"""

from __future__ import annotations

EXIST_OUTAGE_CAP = 900.0  # a flush postponed for an outage waits at most this long
# Fixed waits, where doubling would not help:
REFUSED_FOR_NOW = 60.0  # rows Exist refused this time (unauthorised, not found): tried again after
STATE_DIRECTORY_PAUSE = 30.0  # the state database can't be used: the flusher tries again after
UNEXPECTED_PAUSE = 60.0  # a flush failed of a bug (logged with its traceback): tried again after
LOOP_RESTART = 30.0  # the Exist loop died of a bug (logged with its traceback): restarted after
REFUSED_PAUSE = 600.0  # Exist refused the token, or a whole request: a person has to act


class Backoff:
    """Waits of ``first`` seconds, doubled after each failure, never over ``cap``."""

    def __init__(self, first: float, cap: float):
        self.first = first
        self.cap = cap
        self._next = first

    def next(self) -> float:
        """The wait before the next try; the one after it is twice as long (up to the cap)."""
        wait = min(self._next, self.cap)
        self._next = min(self._next * 2, self.cap)
        return wait

    def reset(self) -> None:
        """A success: the next failure waits ``first`` again."""
        self._next = self.first


def profile() -> Backoff:
    """Reading the Exist profile for the user's timezone at start (messages wait meanwhile)."""
    return Backoff(2.0, 300.0)


def attribute_set_up() -> Backoff:
    """Acquiring and creating the configured attributes, until Exist answers."""
    return Backoff(5.0, 600.0)


def state_writes() -> Backoff:
    """The ingest writer, while the state database can't be written (disk full, read-only)."""
    return Backoff(0.5, 30.0)


def exist_outage(first: float) -> Backoff:
    """Sending after Exist failed (5xx, no answer): ``first`` is the configuration's
    ``retry_delay``."""
    return Backoff(first, EXIST_OUTAGE_CAP)
