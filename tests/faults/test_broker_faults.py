"""Scenario 5: the broker is stopped and restarted, killed, and paused (SIGSTOP) mid-stream; the
bridge reconnects, resubscribes and takes in everything the broker delivers.

A broker killed with SIGKILL restarts from its last saved database (mosquitto's
``autosave_interval``, not the bridge): it has lost what it received since, and it re-sends, as new
messages without DUP, what it had queued for the bridge at that save, even if the bridge has stored
and acknowledged them since. The bridge can't tell those from new events with the same payload, so
around the hard kill the stream waits until the bridge has stored and acknowledged everything
published *and* the broker has saved that, so the truth stays exact.
"""

from __future__ import annotations

import random
import threading
import time

import pytest

from ..support.faults import (
    FaultBridge,
    Publisher,
    assert_never_double_counted,
    landed,
    report,
    wait_until,
)

pytestmark = pytest.mark.slow  # mosquitto, subprocesses or seconds of work: see pyproject


def test_broker_restart_kill_and_pause_mid_stream(mock_exist, mosquitto, tmp_path):
    rng = random.Random(5_2026)
    fb = FaultBridge(mock_exist, mosquitto, tmp_path / "state", interval=1)
    try:
        link = fb.bridge.link

        # 1. a graceful restart while messages are still being taken in
        fb.events(rng, 150)
        connects = link.connects
        fb.pub.close()
        mosquitto.restart()
        wait_until(lambda: link.connects > connects, timeout=30)
        fb.pub = Publisher(mosquitto.port)
        fb.events(rng, 150)
        fb.settle()

        # 2. a hard kill once everything published is stored by the bridge, acknowledged, and
        #    the broker has saved its database since (else it re-sends the backlog of step 1)
        connects = link.connects
        fb.pub.close()
        assert fb.bridge.writer.wait_idle()  # the acks are handed to paho
        wait_until(lambda: not link.client.want_write())  # ... written to the broker's socket
        mosquitto.wait_saved(saves=2)  # ... and read by it before a save
        mosquitto.kill()
        wait_until(lambda: not link.connected)
        mosquitto.start()
        wait_until(lambda: link.connects > connects, timeout=30)
        fb.pub = Publisher(mosquitto.port)
        fb.events(rng, 150)

        # 3. the broker frozen for 3 s (SIGSTOP) while a stream is published
        stream = threading.Thread(target=fb.events, args=(rng, 150))
        published = fb.published
        stream.start()
        wait_until(lambda: fb.published > published)  # mid-stream
        mosquitto.pause()
        time.sleep(3)  # the fault itself: the broker stays frozen this long
        mosquitto.resume()
        stream.join(60)
        assert not stream.is_alive()
        fb.settle(timeout=60)
        fb.wait_delivered(timeout=60)
        assert landed(mock_exist.state) == dict(fb.truth) and fb.published == 600
        assert_never_double_counted(mock_exist.state, fb.truth)
        report(
            "5 broker faults",
            "graceful restart, SIGKILL + restart, SIGSTOP 3 s",
            fb.published,
            mock_exist.state,
            fb.truth,
        )
    finally:
        fb.close()
