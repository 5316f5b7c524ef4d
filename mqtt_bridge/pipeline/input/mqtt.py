"""The MQTT side: one paho-mqtt 2.x client with manual acknowledgements.

- A persistent session (``clean_session=False`` and a stable client id) so the broker queues
  messages while the bridge is down or busy, and redelivers anything not acknowledged.
- Messages are acknowledged by ``CommitWriter`` after their effect is on disk, never by paho.
- Subscriptions use QoS 1 at most: with paho, a QoS 2 message handed to the application is gone if
  the process dies before it is stored (the broker then only resends PUBREL, without the payload),
  so QoS 1 plus the outbox's duplicate detection is the safer contract.
- A retained availability topic (``<prefix>/availability``: online/offline, offline also as the
  last will), a retained JSON status topic (``<prefix>/status``) and optional Home Assistant MQTT
  discovery for the bridge's own health.
- paho reconnects with backoff by itself; on every (re)connect we subscribe again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from ... import homeassistant
from ...config.model import MqttSettings
from ...tls import tls_context
from ..buffer.outbox import Commit
from ..process.processor import IncomingMessage, MessageProcessor
from . import batch_ack
from .clash import ClashDetector, clash_message
from .link_state import FailureLog, connect_error, login_refused

log = logging.getLogger("exist_bridge.mqtt")


class CommitSink(Protocol):
    """Where the link hands each message's commit (``CommitWriter``; a dry run acks at once)."""

    def submit(self, commit: Commit, ack: tuple[int, int] | None) -> None: ...


class BrokerLink:
    """Connects, subscribes to the mappings' topics and feeds messages to the ingest pipeline
    (``processor`` and ``writer`` None: a link that only connects, for ``check --online``)."""

    _status_mid: int | None = None  # the packet id of the status topic's SUBSCRIBE

    def __init__(
        self,
        settings: MqttSettings,
        topics: list[str],
        processor: MessageProcessor | None,
        writer: CommitSink | None,
        version: str = "",
        clock: Callable[[], float] = time.time,
        announce: bool = True,
        status_stale_after: float = 900.0,
        prefix_key: str = "mqtt.topic_prefix",
        accounts: Sequence[str] = (),
    ):
        """``accounts``: the names of several Exist accounts (discovery: entities for each)."""
        self.settings = settings
        self.accounts = tuple(accounts)
        self.prefix_key = prefix_key  # how the user sets the topic prefix, in messages
        # False for a dry run: no availability/status/discovery (they are the real bridge's)
        self.announce = announce
        self.topics = sorted(set(topics))
        self.processor = processor
        self.writer = writer
        self.qos = min(int(settings.qos), 1)
        self.prefix = settings.topic_prefix.rstrip("/")
        self.version = version
        self.clock = clock  # when a message counts as received (its local date)
        self.connected = False
        self.connects = 0
        self.failures = FailureLog(settings)  # why connecting fails, logged without flooding
        # the status published at once on (re)connect (Home Assistant's entities fill at start)
        self.status_source: Callable[[], dict] | None = None
        self._prefix_warned = False
        # a retained status older than this is a dead bridge's, not a sharer of the prefix
        self.status_stale_after = status_stale_after
        self.clash = ClashDetector()  # another client with our client id (clash.py)
        self._restart_lock = threading.Lock()
        self._stopped = False
        self.subacks: list[list] = []  # the reason codes of each SUBACK, one per (re)connect
        self._subscribing: dict[int, list[str]] = {}  # packet id of a SUBSCRIBE -> its topics
        self._subscribing_lock = threading.Lock()  # a SUBACK may come before subscribe returns
        self.on_message_hook: Callable[[IncomingMessage], None] | None = None
        # more to publish on each connect (the Exist mirror's states and discovery)
        self.connect_hook: Callable[[], None] | None = None
        self.client = self._build_client()

    @property
    def node_id(self) -> str:
        """The bridge's id in Home Assistant (from the MQTT client id)."""
        return homeassistant.node_id(self.settings.client_id)

    @property
    def availability_topic(self) -> str:
        return f"{self.prefix}/availability"

    @property
    def status_topic(self) -> str:
        return f"{self.prefix}/status"

    def _build_client(self) -> mqtt.Client:
        s = self.settings
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=s.client_id,
            clean_session=not s.persistent_session,
            protocol=mqtt.MQTTv311,
            manual_ack=True,
        )
        if s.username:
            password = s.password.reveal() if s.password else None
            client.username_pw_set(s.username, password)
        tls = s.tls
        if tls:  # each file loaded on its own step: an error names the key and the file
            client.tls_set_context(tls_context(tls.ca_certs, tls.certfile, tls.keyfile))
            client.tls_insecure_set(bool(tls.insecure))
        if self.announce:
            client.will_set(self.availability_topic, "offline", qos=1, retain=True)
        client.reconnect_delay_set(min_delay=1, max_delay=60)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        # (the status topic is told apart in _on_message: a filtered callback would make paho
        # walk its topic matcher for every message)
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        return client

    # ----------------------------------------------------------------- paho callbacks

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self.failures.failed(login_refused(reason_code, self.settings))
            return
        self.connected = True
        self.connects += 1
        self.clash.connected()
        if self.clash.active:  # the clash ends once this connection stays up long enough
            timer = threading.Timer(
                self.clash.stable_after + 0.5, self._end_clash, args=(self.connects,)
            )
            timer.daemon = True
            timer.start()
        failed = self.failures.connected()
        if self.clash.active:  # reconnects every second or so: not logged each time
            log.debug(
                "connected to %s:%s again (client id clash)", self.settings.host, self.settings.port
            )
        else:
            log.info(
                "connected to %s:%s (session %s)%s",
                self.settings.host,
                self.settings.port,
                "resumed" if flags.session_present else "new",
                f" after {failed} failed attempt(s)" if failed else "",
            )
        persistent = self.settings.persistent_session
        if self.connects > 1 and persistent and not flags.session_present:
            # The broker forgot the session (restarted without persistence, or couldn't save
            # it): whatever it had queued for the bridge, and unacknowledged deliveries, are gone.
            log.warning(
                "the broker did not resume the bridge's session after a reconnect: messages "
                "queued for it while it was away are lost (is persistence enabled and "
                "writable in the broker?)"
            )
        if self.announce:
            client.publish(self.availability_topic, "online", qos=1, retain=True)
        if self.announce and self.settings.discovery:
            self.publish_discovery(self.settings.discovery_prefix, self.node_id)
        if self.announce and self.connect_hook is not None:
            self.connect_hook()
        if self.announce:
            _, self._status_mid = client.subscribe(self.status_topic, qos=0)
            if self.status_source is not None:
                try:
                    self.publish_status(self.status_source())
                except Exception as err:  # noqa: BLE001 - a status only; the flusher sends more
                    log.debug("no status published on connect: %s", err)
        if self.topics:
            self._subscribe(self.topics)

    def _subscribe(self, topics: list[str]) -> None:
        """SUBSCRIBE to ``topics`` (their SUBACK is logged by ``_on_subscribe``)."""
        with self._subscribing_lock:
            _, mid = self.client.subscribe([(t, self.qos) for t in topics])
            if mid is not None:
                self._subscribing[mid] = list(topics)
        log.debug("subscribing to %s", ", ".join(topics))

    def set_topics(self, topics: list[str]) -> tuple[list[str], list[str]]:
        """Subscribe to ``topics`` from now on (a reload): the new ones are subscribed and the
        ones no longer wanted unsubscribed on the live session (while disconnected, the next
        connect subscribes to ``topics``). Returns (added, removed)."""
        wanted = sorted(set(topics))
        added = [t for t in wanted if t not in self.topics]
        removed = [t for t in self.topics if t not in wanted]
        self.topics = wanted
        if self.connected and removed:
            self.client.unsubscribe(removed)
            log.info("unsubscribed from %s", ", ".join(removed))
        if self.connected and added:
            self._subscribe(added)
        return added, removed

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        """The broker's SUBACK: messages on the granted topics now reach the bridge."""
        if mid is not None and mid == self._status_mid:
            return  # the status topic's (a shared topic_prefix is watched there), not self.topics'
        codes = list(reason_codes)
        with self._subscribing_lock:
            topics = self._subscribing.pop(mid, self.topics) if mid is not None else self.topics
        granted = [t for t, rc in zip(topics, codes, strict=False) if not rc.is_failure]
        refused = [t for t, rc in zip(topics, codes, strict=False) if rc.is_failure]
        if refused:
            log.error(
                "the broker refused the subscription to %s (its ACL?): messages there never "
                "reach the bridge",
                ", ".join(refused),
            )
        if granted:
            log.info("subscribed to %s", ", ".join(granted))
        self.subacks.append(codes)

    def _on_connect_fail(self, client, userdata) -> None:
        # paho calls this inside its ``except OSError`` around a connection attempt
        self.failures.failed(connect_error(sys.exc_info()[1], self.settings))

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        if self.connected:
            short = self.clash.closed_by_broker()
            if short:
                self.failures.clash(self.clash.since)
                log.error(
                    "%s",
                    clash_message(self.settings.client_id, short, self.settings.persistent_session),
                )
            if self.clash.active:
                log.debug("disconnected from the broker (%s): client id clash", reason_code)
            else:
                log.warning(
                    "disconnected from the broker (%s); reconnecting with backoff", reason_code
                )
            self.failures.disconnected(f"disconnected: {reason_code}")
        self.connected = False

    def _end_clash(self, connection: int) -> None:
        """Timer: the connection ``connection`` has been up long enough, the clash is over. The
        messages held back are in flight unacknowledged: reconnect so the broker resends them."""
        with self._restart_lock:
            if self._stopped or not self.connected or self.connects != connection:
                return
            held = self.clash.end_if_stable()
            if held is None:
                return
            self.failures.clash(None)
            log.warning(
                "the client id clash on mqtt.client_id %r is over (the connection has been stable "
                "for %.0fs); %s",
                self.settings.client_id,
                self.clash.stable_after,
                f"reconnecting so the broker resends the messages held back ({held} deliveries)"
                if held
                else "taking in messages again",
            )
            if held:
                self.connected = False  # deliberate: no "reconnecting" warning
                self.client.disconnect()
                self.client.loop_stop()
                self.start()

    def link_status(self) -> dict:
        """The broker link for ``status``: host, port, connected (since), last error (when),
        failed attempts since the last connection."""
        return self.failures.state.as_dict()

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        topic = message.topic  # (paho decodes it at each access)
        if self.announce and topic == self.status_topic:
            self._on_status_topic(message)  # another bridge's status: a shared topic_prefix
        else:
            self._take(message, topic)

    def _take(self, message: mqtt.MQTTMessage, topic: str) -> None:
        """A message for ingest: processed, and handed to the writer with its ack."""
        if message.qos > 0 and self.settings.persistent_session and self.clash.hold_back():
            # (with a clean session the broker would drop what is held back: processed instead)
            # neither processed nor acknowledged: the broker keeps it for the bridge that stays
            self.failures.state.held_back = self.clash.held_back
            return
        payload = message.payload  # bytes from paho's packet (its type also allows bytearray)
        msg = IncomingMessage(
            topic,
            payload if isinstance(payload, bytes) else bytes(payload),
            message.qos,
            message.mid,
            bool(message.dup),
            bool(message.retain),
            self.clock(),
        )
        if self.processor is None or self.writer is None:  # a link that only connects
            return
        commit = self.processor.process(msg)
        ack = (msg.mid, msg.qos) if msg.qos > 0 else None
        self.writer.submit(commit, ack)
        if self.on_message_hook is not None:
            self.on_message_hook(msg)

    def _on_status_topic(self, message: mqtt.MQTTMessage) -> None:
        """``<topic_prefix>/status`` from the broker: ours, or another bridge's that shares the
        prefix (two bridges would overwrite each other's availability and status)."""
        if message.qos > 0:  # also matched by a mapping's filter: that message is for ingest
            self._take(message, message.topic)
        try:
            status = json.loads(message.payload)
            owner = status.get("client_id")
        except (ValueError, AttributeError):
            return
        if message.retain and not self._recent(status.get("published_at")):
            # kept by the broker from a bridge that may be long gone: a running bridge
            # publishes its status again (live) at its next flush
            log.debug(
                "a retained status of client id %r on %s is stale: ignored",
                owner,
                self.status_topic,
            )
            return
        if owner and owner != self.settings.client_id and not self._prefix_warned:
            self._prefix_warned = True
            log.warning(
                "another bridge (client id %r) publishes its status on %s too: two bridges "
                "sharing the topic prefix %r overwrite each other's availability and status; "
                "give each its own %s",
                owner,
                self.status_topic,
                self.prefix,
                self.prefix_key,
            )

    def _recent(self, published_at: object) -> bool:
        """Whether a status's ``published_at`` (epoch seconds) is within ``status_stale_after``
        (a status without one comes from an older version: not known to be recent)."""
        if not isinstance(published_at, (int, float)):
            return False
        return time.time() - float(published_at) <= self.status_stale_after

    def ack_many(self, acks: list[tuple[int, int]]) -> None:
        """Acknowledge a committed batch, in order (called by the writer once the messages'
        effects are committed); see ``batch_ack`` for how paho is woken only once."""
        batch_ack.ack_many(self.client, acks)

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Connect in the background; paho keeps retrying while the broker is unreachable."""
        s = self.settings
        self.client.connect_async(s.host, s.port, keepalive=s.keepalive)
        self.client.loop_start()

    def publish_status(self, status: dict) -> None:
        if self.connected and self.announce:
            self.client.publish(
                self.status_topic, json.dumps(status, default=str), qos=0, retain=True
            )

    def publish_retained(self, topic: str, payload: str) -> None:
        """Publish ``payload`` on ``topic``, retained, QoS 1 (queued while disconnected)."""
        self.client.publish(topic, payload, qos=1, retain=True)

    def publish_discovery(self, discovery_prefix: str, node_id: str) -> None:
        """Home Assistant MQTT discovery: the bridge's connectivity and queue depth as entities."""
        messages = homeassistant.discovery_messages(
            discovery_prefix,
            node_id,
            self.version,
            self.availability_topic,
            self.status_topic,
            self.accounts,
        )
        for topic, payload in messages.items():
            self.client.publish(topic, json.dumps(payload), qos=1, retain=True)

    def stop(self) -> None:
        """Say offline, disconnect cleanly (no last will), stop the network thread."""
        if self.connected and self.announce:
            info = self.client.publish(self.availability_topic, "offline", qos=1, retain=True)
            with contextlib.suppress(ValueError, RuntimeError):
                info.wait_for_publish(timeout=5)
        with self._restart_lock:
            self._stopped = True
            self.connected = False  # a deliberate disconnect: no "reconnecting" warning
            self.client.disconnect()
            self.client.loop_stop()
