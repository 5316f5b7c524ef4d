"""Acknowledge a committed batch of MQTT messages waking paho's network thread once.

paho wakes its network thread for every packet queued from another thread (a byte written to a
socket pair); each of those writes lets go of the GIL and takes it back from the busy network
thread, which made acknowledging cost more than committing. Queueing the PUBACKs behind a silent
stand-in for that socket, then waking the thread once, sends the same packets in the same order.

This relies on paho 2.x's private ``_sockpairW``, so it is gated on paho's major version and on
the attribute being a socket; anywhere else the acks simply go one by one (only slower).
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

import paho.mqtt

PAHO_MAJOR = int(str(getattr(paho.mqtt, "__version__", "0")).split(".")[0] or 0)
SUPPORTED = PAHO_MAJOR == 2  # the wake-up socket pair is paho 2.x's; checked again per call


class _QuietWake:
    """Stands in for paho's wake-up socket while a batch of acks is queued."""

    def send(self, data: bytes) -> int:
        return len(data)

    def close(self) -> None:
        pass


def ack_many(client: Any, acks: list[tuple[int, int]]) -> None:
    """Acknowledge ``acks`` ((mid, qos) pairs) in order on a paho client, with one wake-up."""
    wake = getattr(client, "_sockpairW", None) if SUPPORTED else None
    if len(acks) < 2 or not isinstance(wake, socket.socket):
        for mid, qos in acks:
            client.ack(mid, qos)
        return
    quiet = _QuietWake()
    client._sockpairW = quiet
    try:
        for mid, qos in acks:
            client.ack(mid, qos)
    finally:
        if client._sockpairW is quiet:
            client._sockpairW = wake
            with contextlib.suppress(OSError):  # BlockingIOError: a wake-up is pending
                wake.send(b"0")
        else:  # paho reset its sockets meanwhile (a disconnect), closing the stand-in
            wake.close()
