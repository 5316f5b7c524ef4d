"""Test-side MQTT clients: a QoS 1 publisher, subscriptions that wait for their SUBACK, and the
SUBACK of the bridge's own subscription (``wait_subscribed``), and a ``Watcher`` keeping the last
payload of each topic."""

from __future__ import annotations

import itertools
import json
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from .waiting import wait_until

__all__ = [
    "Publisher",
    "Watcher",
    "subscribe",
    "subacks",
    "wait_subscribed",
]

_ids = itertools.count(1)


class Publisher:
    """A paho client on 127.0.0.1:``port`` publishing at QoS 1 and waiting for each PUBACK
    (so "published" means "the broker has it").

    ``separators`` is handed to ``json.dumps`` for payloads that aren't str/bytes."""

    def __init__(
        self,
        port: int,
        client_id: str = "test-publisher",
        separators: tuple[str, str] | None = None,
        timeout: float = 10,
        login: tuple[str, str] | None = None,
    ):
        """``login``: (user name, password) for a broker that refuses anonymous clients."""
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id
        )
        if login:
            self.client.username_pw_set(*login)
        self.separators = separators
        self.timeout = timeout
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.sent = 0

    def publish(self, topic: str, payload, retain: bool = False) -> None:
        """Publish at QoS 1 and wait (``timeout`` s) until the broker acknowledged it."""
        if not isinstance(payload, (str, bytes)):
            payload = json.dumps(payload, separators=self.separators)
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(self.timeout)
        self.sent += 1

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def subscribe(client: mqtt.Client, topics: list[str], qos: int = 1, timeout: float = 10) -> None:
    """Subscribe a connected, looping paho client to ``topics`` and wait for the SUBACK
    (``on_subscribe``); an ``AssertionError`` if it doesn't come or refuses a topic."""
    acked: dict[int, list] = {}
    previous = client.on_subscribe

    def on_subscribe(c, userdata, mid, reason_codes, properties) -> None:
        if previous is not None:
            previous(c, userdata, mid, reason_codes, properties)
        acked[mid] = list(reason_codes)  # by mid: the SUBACK may beat subscribe()'s return

    client.on_subscribe = on_subscribe
    try:
        result, mid = client.subscribe([(t, qos) for t in topics])
        assert result == mqtt.MQTT_ERR_SUCCESS, f"subscribe to {topics} failed: {result}"
        wait_until(
            lambda: mid in acked,
            timeout=timeout,
            message=f"no SUBACK for {topics} within {timeout}s",
        )
    finally:
        client.on_subscribe = previous
    refused = [rc for rc in acked[mid] if rc.is_failure]
    assert not refused, f"the broker refused {topics}: {refused}"


# ------------------------------------------------------------------- the bridge's own SUBACK


def subacks(link) -> list:
    """The SUBACKs the bridge's link received so far (their reason codes)."""
    return link.subacks


def wait_subscribed(link, timeout: float = 30) -> None:
    """Wait until the bridge's link is connected and its subscription after the latest
    (re)connect was acknowledged: at least one SUBACK per connect, none refused."""
    wait_until(
        lambda: link.connected and link.connects and len(subacks(link)) >= link.connects,
        timeout=timeout,
        message=lambda: (
            f"bridge not subscribed: connected={link.connected} connects={link.connects} "
            f"subacks={len(subacks(link))}"
        ),
    )
    refused = [rc for acks in subacks(link) for rc in acks if rc.is_failure]
    assert not refused, f"the broker refused the bridge's subscription: {refused}"


class Watcher:
    """Subscribes to topics and keeps the last payload (and retain flag) of each, and every
    message in ``seen``."""

    def __init__(self, port: int, topics: list[str]):
        self.last: dict[str, tuple[bytes, bool]] = {}
        self.seen: list[tuple[str, bytes]] = []  # every message, in order
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"watch-{time.monotonic_ns()}",
        )
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        subscribe(self.client, topics)

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        self.last[message.topic] = (message.payload, bool(message.retain))
        self.seen.append((message.topic, message.payload))

    def payload(self, topic: str) -> bytes | None:
        return self.last.get(topic, (None, False))[0]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
