"""Issue 28, item 3: a test that counts what it published must know when the broker dropped some.

mosquitto drops QoS 1 messages for a session whose queue is full (``max_queued_messages``, 1000
by default) and says so only in a notice ("Outgoing messages are being dropped for client ..."),
which the tests' broker did not log: a kill -9 test would have found the bridge "short". The
tests' broker now logs notices, ``Mosquitto.dropped()`` reads them, and the ``mosquitto``
fixture fails a test whose broker dropped anything.
"""

from __future__ import annotations

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ..support.mosquitto import Mosquitto
from ..support.mqtt import Publisher, subscribe
from ..support.waiting import wait_until


def offline_session(port: int, client_id: str) -> None:
    """A persistent session subscribed at QoS 1, then disconnected: the broker queues for it."""
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False
    )
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        subscribe(client, ["drops/#"], qos=1)
    finally:
        client.disconnect()
        client.loop_stop()


def test_a_full_session_queue_is_reported_by_the_test_broker(tmp_path):
    broker = Mosquitto(tmp_path / "broker", max_queued=5).start()
    try:
        offline_session(broker.port, "offline-bridge")
        publisher = Publisher(broker.port)
        try:
            for i in range(30):  # 20 in flight + 5 queued are kept; the rest are dropped
                publisher.publish("drops/x", str(i))
        finally:
            publisher.close()
        wait_until(broker.dropped, message="mosquitto logged no drop")
        assert "offline-bridge" in broker.dropped()[0]
    finally:
        broker.kill()


def test_a_queue_large_enough_drops_nothing(tmp_path):
    broker = Mosquitto(tmp_path / "broker").start()  # the tests' default: 100,000 queued
    try:
        offline_session(broker.port, "offline-bridge")
        publisher = Publisher(broker.port)
        try:
            for i in range(30):
                publisher.publish("drops/x", str(i))
        finally:
            publisher.close()
        assert broker.dropped() == []
    finally:
        broker.kill()
