"""What a configuration is once read: the settings dataclasses, ``Secret``, and the problems.

A new key goes here as a field of its section's dataclass (with the default the Python API
uses), and in ``schema.py`` with its validator and description; ``build.py`` copies it across by
name, so nothing else needs to list it.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MODES = ("increment", "update", "counter", "duration")
INCREMENTING_MODES = frozenset({"increment", "counter", "duration"})  # sent to Exist as increments
DURATION_TYPES = frozenset({0, 1, 3})  # what duration mode's whole minutes may be added to
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
MAX_MQTT_PACKET = 268_435_455


def short(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters for a message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# =================================================================================== secrets


class Secret:
    """A secret string that doesn't show itself: ``repr``/``str`` give ``Secret('***')``."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        """The secret itself (pass it to the library that needs it, never to a log)."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(("Secret", self._value))


# =================================================================================== results


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the configuration: ``path`` like ``mappings[2].topic``, ``line``
    1-based (None when unknown)."""

    path: str
    line: int | None
    message: str
    # An error for `exist-bridge check`, only a warning for `run` (it breaks one mapping, not the
    # bridge: e.g. an attribute name Exist won't know).
    check_error: bool = False

    def format(self, source: str) -> str:
        """``FILE:LINE: path: message``."""
        where = f"{source}:{self.line}" if self.line is not None else source
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(Exception):
    """The configuration can't be used; ``problems`` lists everything found, in file order."""

    def __init__(self, problems: list[Problem], source: str = "<string>"):
        self.problems = list(problems)
        self.source = source
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(p.format(self.source) for p in self.problems)


# =================================================================================== settings


@dataclass(frozen=True)
class TlsSettings:
    ca_certs: Path | None = None
    certfile: Path | None = None
    keyfile: Path | None = None
    insecure: bool = False


SINGLE_ACCOUNT = ""  # the account of a configuration without exist.accounts (and its state's)


@dataclass(frozen=True)
class AccountSettings:
    """One Exist account the bridge writes to: ``name`` (``SINGLE_ACCOUNT`` for a configuration
    without ``exist.accounts``), its token or token file, time zone and request budget."""

    name: str = SINGLE_ACCOUNT
    token: Secret | None = None
    token_file: Path | None = None
    timezone: str | None = None
    requests_per_hour: int = 280
    # where it is in the file, for messages: not part of the account (a reload compares them)
    line: int | None = field(default=None, compare=False)

    @property
    def label(self) -> str:
        """The name for messages and status lines (``default`` for the single account)."""
        return self.name or "default"


@dataclass(frozen=True)
class ExistSettings:
    base_url: str = "https://exist.io"
    token: Secret | None = None
    token_file: Path | None = None
    client_id: str | None = None
    client_secret: Secret | None = None
    timezone: str | None = None
    requests_per_hour: int = 280
    timeout: float = 30
    accounts: tuple[AccountSettings, ...] = ()  # empty: the single account of the keys above

    @property
    def all_accounts(self) -> tuple[AccountSettings, ...]:
        """Every account, the default (mappings without ``account``) first."""
        if self.accounts:
            return self.accounts
        single = AccountSettings(
            SINGLE_ACCOUNT, self.token, self.token_file, self.timezone, self.requests_per_hour
        )
        return (single,)


@dataclass(frozen=True)
class MqttSettings:
    host: str = "localhost"
    port: int = 1883
    username: str | None = None
    password: Secret | None = None
    tls: TlsSettings | None = None
    client_id: str = "exist-bridge"
    keepalive: int = 60
    qos: int = 1
    persistent_session: bool = True
    topic_prefix: str = "exist-bridge"
    discovery: bool = False
    discovery_prefix: str = "homeassistant"


@dataclass(frozen=True)
class BridgeSettings:
    state_dir: Path = Path("state")
    event_delay: float = 300
    total_delay: float = 3600
    flush_interval: float | None = None  # deprecated: stands for both delays (build.py)
    max_payload_bytes: int = 262_144
    log_level: str = "INFO"
    stop_timeout: float = 25
    event_time_window: float = 7 * 86400  # how old a mapping's event_time may be, in seconds
    event_time_skew: float = 300  # how far ahead of the receipt it may be, in seconds


@dataclass(frozen=True)
class HttpSettings:
    """The optional HTTP endpoint: /healthz, /metrics and the status page."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 8099


@dataclass(frozen=True)
class ReadSettings:
    """``read:``, Exist back into MQTT (off when the section is absent): which attributes
    (``attributes`` names, ``all``, and/or ``groups``), how often, and what else to publish."""

    enabled: bool = False
    attributes: tuple[str, ...] = ()
    all: bool = False  # every attribute the token may read
    groups: tuple[str, ...] = ()
    interval: float = 3600
    averages: bool = False
    insights: bool = False
    # None: off; (): all of the week's; ("strong", "confident"): only those
    correlations: tuple[str, ...] | None = None
    topic_prefix: str = "exist"
    account: str = SINGLE_ACCOUNT  # whose values (build.py resolves it: the first by default)


@dataclass(frozen=True)
class AttributeSpec:
    """An attribute to acquire at start: a template (``template`` set) or a custom attribute
    (``label``, ``group``, ``value_type`` set; acquired by name, created when missing)."""

    name: str
    template: str | None = None
    label: str | None = None
    group: str | None = None
    value_type: int | None = None
    line: int | None = None

    @property
    def custom(self) -> bool:
        return self.template is None


@dataclass(frozen=True)
class EdgeSpec:
    """Count only transitions ``from_`` -> ``to`` (normalised states; ``from_`` None when
    ``has_from`` is false, meaning "from any other state")."""

    to: Any
    from_: Any = None
    has_from: bool = False


@dataclass(frozen=True)
class MappingSpec:
    topic: str
    attribute: str
    mode: str = "increment"
    json_path: str | None = None
    value_template: str | None = None
    condition: str | None = None
    edge: EdgeSpec | None = None
    amount: int | float | str = 1
    retained: str = "ignore"
    scale: int | float = 1  # counter mode: the reading's increase is multiplied by this
    on_states: tuple[Any, ...] | None = None  # duration mode: the states meaning "on" (normalised)
    event_time: str | None = None  # where the event's time is: a JSON path or a template
    max_delay: float | None = None  # seconds; None: the bridge's event_delay or total_delay
    # the seconds a change may wait, resolved from the bridge's delays (build.py); not part of
    # the mapping itself, so two specs that differ only by it are equal
    delay: float = field(default=0.0, compare=False)
    line: int | None = None
    account: str = SINGLE_ACCOUNT  # the account written to (build.py resolves the default)
    # whether the file names the account (else it is the first's; a reload that changes which
    # account is first keeps such mappings on the running first account until the restart)
    account_given: bool = field(default=False, compare=False)


def effective_delay(mapping: MappingSpec, bridge: BridgeSettings) -> float:
    """The longest a change from ``mapping`` may wait before it is sent to Exist (seconds): its
    ``max_delay``, else ``bridge.event_delay`` for events (increment, counter, duration modes),
    ``bridge.total_delay`` for totals and readings (update mode)."""
    if mapping.max_delay is not None:
        return float(mapping.max_delay)
    if mapping.mode in INCREMENTING_MODES:
        return float(bridge.event_delay)
    return float(bridge.total_delay)


@dataclass(frozen=True)
class BridgeConfig:
    exist: ExistSettings
    mqtt: MqttSettings
    bridge: BridgeSettings
    attributes: list[AttributeSpec]
    mappings: list[MappingSpec]
    warnings: list[str] = field(default_factory=list)
    source: str = "<string>"
    http: HttpSettings = field(default_factory=HttpSettings)
    read: ReadSettings = field(default_factory=ReadSettings)
    # Errors for `exist-bridge check` (exit 1) that `run` logs without refusing to start.
    check_errors: list[str] = field(default_factory=list)
    # parsed with require_secrets=False: the keys whose !env/!secret value is not available
    unset_secrets: list[str] = field(default_factory=list)
    # how the user sets a key where it isn't a key of their file (the add-on's options)
    key_names: dict[str, str] = field(default_factory=dict)

    def name_of(self, key: str) -> str:
        """What the user sets for ``key`` (``mqtt.topic_prefix``, or the add-on's option), for
        messages that ask them to change it."""
        return self.key_names.get(key, key)

    def delay(self, mapping: MappingSpec) -> float:
        """The longest a change from ``mapping`` may wait before it is sent (seconds)."""
        return effective_delay(mapping, self.bridge)

    @property
    def longest_delay(self) -> float:
        """The longest any change may wait under this configuration (seconds)."""
        delays = [self.delay(m) for m in self.mappings]
        return max([self.bridge.event_delay, self.bridge.total_delay, *delays])

    @property
    def retry_delay(self) -> float:
        """Seconds before a failed send is retried first (then backing off): the shortest
        configured delay, at most 60 (a short-delay test or demo bridge retries quickly)."""
        delays = [self.delay(m) for m in self.mappings]
        return max(1.0, min([60.0, self.bridge.event_delay, self.bridge.total_delay, *delays]))

    @property
    def accounts(self) -> tuple[AccountSettings, ...]:
        """Every Exist account, the default first (one, unnamed, without exist.accounts)."""
        return self.exist.all_accounts

    def account(self, name: str) -> AccountSettings:
        """The account called ``name`` (KeyError if the configuration has none)."""
        for account in self.accounts:
            if account.name == name:
                return account
        raise KeyError(name)

    def mappings_of(self, account: str) -> list[MappingSpec]:
        """The mappings that write to ``account``."""
        return [m for m in self.mappings if m.account == account]

    def attributes_of(self, account: str) -> list[AttributeSpec]:
        """The configured attributes ``account`` acquires: those its mappings write, and (for
        the default account) those no mapping writes."""
        written = {m.attribute for m in self.mappings_of(account)}
        everyone = {m.attribute for m in self.mappings}
        default = self.accounts[0].name == account
        return [
            a for a in self.attributes if a.name in written or (default and a.name not in everyone)
        ]

    @property
    def topics(self) -> list[str]:
        """The distinct topic filters to subscribe to, in mapping order."""
        return list(dict.fromkeys(m.topic for m in self.mappings))
