"""Two clients with one MQTT client id: the broker keeps only the newest connection, so two
bridges configured with the same ``mqtt.client_id`` take the connection (and the persistent
session) from each other every second or so. Messages then split between them and each sends its
own partial total to Exist, overwriting the other's.

``ClashDetector`` recognises the pattern (the broker closing the connection again and again
shortly after it was opened) and says when a connection has been stable long enough for the clash
to count as over; ``BrokerLink`` logs it once, shows it in the link state and holds back (does
not process or acknowledge) QoS 1 messages while the clash lasts, so the broker keeps them for
whichever bridge stays.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

SHORT_CONNECTION = 10.0  # a connection the broker closes within this many seconds is "short"
CLASH_AFTER = 3  # this many short connections in a row: another client uses the client id
STABLE_AFTER = 30.0  # a connection up this long ends the clash


def clash_message(client_id: str, short: int, holding: bool = True) -> str:
    """The one error line logged when a client id clash is detected (``holding``: messages are
    held back, which needs a persistent session)."""
    hold = (
        "Messages are held back (neither processed nor acknowledged) until only one client uses "
        "the id"
        if holding
        else "With a clean session (mqtt.persistent_session: false) messages can't be held back"
    )
    return (
        f"the broker closed the connection {short} times in a row right after it was opened: "
        f"another client is connected with the same mqtt.client_id {client_id!r} (a second "
        "bridge?). Both share one broker session: messages split between them and each sends "
        "its own partial total to Exist, overwriting the other's, so Exist's totals go wrong. "
        f"{hold}; give each bridge its own mqtt.client_id"
    )


class ClashDetector:
    """Counts short-lived connections; thread-safe (paho's network thread and a timer)."""

    def __init__(
        self,
        short: float = SHORT_CONNECTION,
        clash_after: int = CLASH_AFTER,
        stable_after: float = STABLE_AFTER,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ):
        self.short = short
        self.clash_after = clash_after
        self.stable_after = stable_after
        self.clock = clock
        self.wall = wall
        self.active = False
        self.since: float | None = None  # wall-clock time the clash was detected
        self.held_back = 0  # messages held back during this clash
        self._short_in_a_row = 0
        self._connected_at: float | None = None
        self._lock = threading.Lock()

    def connected(self) -> None:
        """A connection was accepted (CONNACK)."""
        with self._lock:
            self._connected_at = self.clock()

    def closed_by_broker(self) -> int | None:
        """The broker (or the network) closed the connection. Returns the number of short
        connections in a row when this one makes it a clash (once per clash), else None."""
        with self._lock:
            opened, self._connected_at = self._connected_at, None
            if opened is None or self.clock() - opened > self.short:
                self._short_in_a_row = 0
                return None
            self._short_in_a_row += 1
            if self.active or self._short_in_a_row < self.clash_after:
                return None
            self.active, self.since, self.held_back = True, self.wall(), 0
            return self._short_in_a_row

    def hold_back(self) -> bool:
        """Whether a message must be held back now (counted when it is). Asked for every
        message: no lock while there is no clash (``active`` is set on the network thread
        itself, by ``closed_by_broker``; cleared by ``end_if_stable``, when a message taken in
        rather than held back is right)."""
        if not self.active:
            return False
        with self._lock:
            if self.active:
                self.held_back += 1
            return self.active

    def end_if_stable(self) -> int | None:
        """Ends the clash when the current connection has been up ``stable_after`` seconds;
        returns how many messages were held back (None: no clash, or not stable yet)."""
        with self._lock:
            opened = self._connected_at
            if not self.active or opened is None or self.clock() - opened < self.stable_after:
                return None
            held, self.held_back = self.held_back, 0
            self.active, self.since, self._short_in_a_row = False, None, 0
            return held
