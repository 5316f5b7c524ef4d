"""A graceful broker restart while the broker still holds a backlog for the bridge.

The bridge's no-loss promise across a broker restart rests on the broker keeping its persistent
session: the messages queued for the bridge, and the ones delivered but not yet acknowledged
(which it redelivers with DUP, and the bridge recognises as already taken in). Here the bridge is
made to lag on purpose (acks held back), so a restart always finds ~130 queued and up to 20 in
flight, instead of only when the bridge happened to lag (the old flake of
test_broker_faults: a broker started as root could not write its persistence file, so every
restart dropped the session and whatever was queued in it).
"""

from __future__ import annotations

import logging
import random

import pytest

from ..support.bridge import delay_acks
from ..support.faults import FaultBridge, Publisher, wait_until
from ..support.mosquitto import Mosquitto

pytestmark = pytest.mark.slow  # mosquitto, subprocesses or seconds of work: see pyproject


def _restart_with_backlog(fb: FaultBridge, broker: Mosquitto, rng, n: int = 150) -> int:
    link = fb.bridge.link
    fb.events(rng, n)
    taken_in = fb.counters().get("messages", 0)
    connects = link.connects
    fb.pub.close()
    broker.restart()
    wait_until(lambda: link.connects > connects, timeout=30)
    fb.pub = Publisher(broker.port)
    return taken_in


def test_graceful_restart_keeps_the_queued_backlog(mock_exist, mosquitto, tmp_path, monkeypatch):
    delay_acks(monkeypatch, 0.5)  # in-flight window (20) stays full
    rng = random.Random(7)
    fb = FaultBridge(mock_exist, mosquitto, tmp_path / "state", interval=1)
    try:
        taken_in = _restart_with_backlog(fb, mosquitto, rng)
        assert taken_in < 100, "no backlog in the broker at the restart: the test proves nothing"
        fb.events(rng, 20)
        fb.settle(timeout=30)
        counters = fb.counters()
        assert counters["messages"] == fb.published == 170, counters
        assert counters["events"] == 170, counters
        fb.wait_delivered(timeout=30)
    finally:
        fb.close()


def test_a_session_the_broker_forgot_is_reported(mock_exist, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="exist_bridge.mqtt")
    broker = Mosquitto(tmp_path / "mosquitto", persistence=False).start()
    fb = FaultBridge(mock_exist, broker, tmp_path / "state", interval=1)
    try:
        _restart_with_backlog(fb, broker, random.Random(7), n=5)
        wait_until(
            lambda: any("did not resume" in r.getMessage() for r in caplog.records), timeout=5
        )
    finally:
        fb.close()
        broker.kill()
