"""What the broker link is doing, in words: why a connection failed (refused, DNS, TLS and which
file, login), logged without flooding, and the link's state for ``exist-bridge status``.

paho reconnects in its network thread and swallows the socket and TLS errors of each attempt;
``BrokerLink`` hands them here (``on_connect_fail`` runs inside paho's ``except OSError``, so the
exception is ``sys.exc_info()``'s).
"""

from __future__ import annotations

import errno
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ...config.model import MqttSettings

log = logging.getLogger("exist_bridge.mqtt")

REPEAT_EVERY = 60.0  # the same failure is logged again at most this often (with its count)


def connect_error(err: BaseException | None, settings: MqttSettings) -> str:
    """One sentence saying why a connection attempt to the broker failed, naming the key to
    check (``mqtt.host``, ``mqtt.port``, ``mqtt.tls.ca_certs``)."""
    tls = settings.tls
    if err is None:
        return "connection failed (no details from paho)"
    if isinstance(err, socket.gaierror):
        return (
            f"the host name {settings.host!r} does not resolve (DNS: {err.strerror or err}); "
            "check mqtt.host"
        )
    if isinstance(err, ConnectionRefusedError):
        return (
            f"connection refused: nothing listens on port {settings.port} there; check "
            "mqtt.port and that the broker is running"
        )
    if isinstance(err, ssl.SSLCertVerificationError):
        return (
            f"TLS: the broker's certificate was not accepted ({err.verify_message or err}) "
            f"{_ca(settings)}"
        )
    if tls and isinstance(err, (ssl.SSLError, ConnectionResetError, BrokenPipeError, EOFError)):
        reason = (getattr(err, "reason", None) or err.strerror) if isinstance(err, OSError) else err
        return (
            f"TLS handshake failed ({reason or type(err).__name__}) {_ca(settings)}: is port "
            f"{settings.port} a TLS listener? (1883 is usually plain MQTT, 8883 TLS)"
        )
    if isinstance(err, (TimeoutError, socket.timeout)) or getattr(err, "errno", None) in (
        errno.ETIMEDOUT,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
    ):
        return (
            f"no answer ({getattr(err, 'strerror', None) or 'timed out'}); check mqtt.host, "
            "mqtt.port and any firewall"
        )
    if isinstance(err, OSError):
        return f"{err.strerror or err}; check mqtt.host and mqtt.port"
    return f"{type(err).__name__}: {err}"


def _ca(settings: MqttSettings) -> str:
    tls = settings.tls
    if tls and tls.ca_certs:
        return f"with mqtt.tls.ca_certs {tls.ca_certs}"
    return "with the system's CA store (mqtt.tls)"


def login_refused(reason: object, settings: MqttSettings) -> str:
    """The broker answered CONNACK with a failure: a login or client id problem."""
    text = str(reason)
    user = f"mqtt.username {settings.username!r}" if settings.username else "no mqtt.username"
    lowered = text.lower()
    if "authori" in lowered or "password" in lowered or "user name" in lowered:
        return f"the broker refused the login ({text}; {user}); check mqtt.username / mqtt.password"
    return f"the broker refused the connection ({text}); check mqtt.client_id and the credentials"


@dataclass
class LinkState:
    """The link as ``status`` shows it (wall-clock times, epoch seconds)."""

    host: str
    port: int
    connected: bool = False
    since: float | None = None  # connected since
    last_error: str | None = None
    last_error_at: float | None = None
    failed_attempts: int = 0  # since the last successful connection
    client_id_clash: bool = False  # another client uses mqtt.client_id (see clash.py)
    clash_since: float | None = None
    held_back: int = 0  # messages held back during the clash

    def as_dict(self) -> dict:
        return {
            "host": self.host,
            "port": self.port,
            "connected": self.connected,
            "since": self.since,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
            "failed_attempts": self.failed_attempts,
            "client_id_clash": self.client_id_clash,
            "clash_since": self.clash_since,
            "held_back": self.held_back,
        }


class FailureLog:
    """Logs connection failures: each new reason at once, the same one again at most every
    ``repeat`` seconds (with how many attempts failed meanwhile); keeps ``LinkState`` current."""

    def __init__(
        self,
        settings: MqttSettings,
        repeat: float = REPEAT_EVERY,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ):
        self.settings = settings
        self.repeat = repeat
        self.clock = clock
        self.wall = wall
        self.state = LinkState(settings.host, settings.port)
        self._lock = threading.Lock()
        self._logged_reason: str | None = None
        self._logged_at = 0.0
        self._since_logged = 0

    def failed(self, reason: str) -> None:
        """One failed attempt (reason from ``connect_error`` or ``login_refused``)."""
        with self._lock:
            st = self.state
            st.connected = False
            st.since = None
            st.last_error, st.last_error_at = reason, self.wall()
            st.failed_attempts += 1
            now = self.clock()
            if reason == self._logged_reason and now - self._logged_at < self.repeat:
                self._since_logged += 1
                log.debug("broker %s:%s: %s (again)", st.host, st.port, reason)
                return
            again = (
                f" ({self._since_logged + 1} failed attempts since the last report)"
                if reason == self._logged_reason
                else ""
            )
            self._logged_reason, self._logged_at, self._since_logged = reason, now, 0
        log.error(
            "can't connect to the MQTT broker %s:%s: %s%s; retrying with backoff",
            st.host,
            st.port,
            reason,
            again,
        )

    def connected(self) -> int:
        """The link is up; returns how many attempts had failed before."""
        with self._lock:
            failed = self.state.failed_attempts
            self.state.connected = True
            self.state.since = self.wall()
            self.state.failed_attempts = 0
            self._logged_reason = None
            return failed

    def clash(self, since: float | None) -> None:
        """Another client uses our client id (``since``: when detected), or no more (None)."""
        with self._lock:
            self.state.client_id_clash = since is not None
            self.state.clash_since = since
            if since is None:
                self.state.held_back = 0

    def disconnected(self, reason: str | None) -> None:
        with self._lock:
            self.state.connected = False
            self.state.since = None
            if reason:
                self.state.last_error, self.state.last_error_at = reason, self.wall()
