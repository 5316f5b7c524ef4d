"""The bridge's configuration: one YAML file, checked against the voluptuous schema below.

``load_config(path)`` / ``parse_config(text)`` return a typed ``BridgeConfig`` or raise
``ConfigError`` listing *every* problem as ``FILE:LINE: path: message`` (unknown keys included:
a typo must not pass silently). Secrets (``exist.token``, ``exist.client_secret``,
``mqtt.password``) never need to be written inline: use ``!env VAR_NAME`` or the ``<field>_file``
key (the file's content, stripped; ``exist.token_file`` is instead the OAuth2 token file written by
``exist-bridge authorize``). Secrets are held as ``Secret`` and never appear in reprs or errors.

The schema (with each key's description) is the one place the configuration is defined;
``describe_schema()`` turns it into rows for a configuration reference.
"""

from __future__ import annotations

import contextlib
import difflib
import hmac
import math
import os
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import voluptuous as vol
import yaml

from .templating import (
    JsonPath,
    JsonPathError,
    TemplateCompileError,
    compile_template,
    normalize_state,
    same_state,
)

__all__ = [
    "GROUPS",
    "VALUE_TYPES",
    "AttributeSpec",
    "BridgeConfig",
    "BridgeSettings",
    "ConfigError",
    "EdgeSpec",
    "ExistSettings",
    "MappingSpec",
    "MqttSettings",
    "Problem",
    "Secret",
    "TlsSettings",
    "describe_schema",
    "load_config",
    "parse_config",
]

# exist.io's attribute groups (reference/object_types.md; names as in the OAuth2 scopes).
GROUPS = (
    "activity",
    "productivity",
    "mood",
    "sleep",
    "workouts",
    "events",
    "finance",
    "food",
    "health",
    "location",
    "media",
    "social",
    "weather",
    "symptoms",
    "medication",
    "custom",
)
# Value types a custom attribute may be created with (6, minutes from midday, is template-only).
VALUE_TYPES = {
    0: "integer",
    1: "decimal",
    2: "string",
    3: "duration (minutes)",
    4: "time of day (minutes from midnight)",
    5: "percentage (0.0-1.0)",
    7: "boolean (0/1)",
    8: "scale (1-9)",
}
NOT_INCREMENTABLE = frozenset({2, 4, 6, 8})  # Exist refuses increments on strings, times, scales
INTEGER_TYPES = frozenset({0, 3, 4, 6, 7, 8})  # Exist refuses floats (even 9.0) on these
MODES = ("increment", "update", "counter", "duration")
INCREMENTING_MODES = frozenset({"increment", "counter", "duration"})  # sent to Exist as increments
DURATION_TYPES = frozenset({0, 1, 3})  # what duration mode's whole minutes may be added to
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
MAX_MQTT_PACKET = 268_435_455

_ATTRIBUTE_NAME = re.compile(r"[a-z0-9_]+\Z")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


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


@dataclass(frozen=True)
class TlsSettings:
    ca_certs: Path | None = None
    certfile: Path | None = None
    keyfile: Path | None = None
    insecure: bool = False


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
    flush_interval: float = 60
    max_payload_bytes: int = 262_144
    log_level: str = "INFO"
    stop_timeout: float = 25


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
    line: int | None = None


@dataclass(frozen=True)
class BridgeConfig:
    exist: ExistSettings
    mqtt: MqttSettings
    bridge: BridgeSettings
    attributes: list[AttributeSpec]
    mappings: list[MappingSpec]
    warnings: list[str] = field(default_factory=list)
    source: str = "<string>"

    @property
    def topics(self) -> list[str]:
        """The distinct topic filters to subscribe to, in mapping order."""
        return list(dict.fromkeys(m.topic for m in self.mappings))


# =================================================================================== validators


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _kind(description: str) -> Callable[[Callable], Callable]:
    """Tag a validator with the human type shown by ``describe_schema``."""

    def tag(fn: Callable) -> Callable:
        fn.kind = description  # type: ignore[attr-defined]
        return fn

    return tag


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _int_range(lo: int, hi: int) -> Callable[[Any], int]:
    @_kind(f"integer {lo}..{hi}")
    def check(value: Any) -> int:
        if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d{1,12}\s*", value):
            value = int(value)  # e.g. from !env
        if not isinstance(value, int) or isinstance(value, bool):
            raise vol.Invalid(f"expected an integer from {lo} to {hi}, got {_short(value)}")
        if not lo <= value <= hi:
            raise vol.Invalid(f"must be from {lo} to {hi}, got {value}")
        return value

    return check


def _number_range(lo: float, hi: float) -> Callable[[Any], float]:
    @_kind(f"number {lo}..{hi}")
    def check(value: Any) -> float:
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = float(value)  # e.g. from !env
        if not _is_number(value) or not math.isfinite(value):
            raise vol.Invalid(f"expected a number from {lo} to {hi}, got {_short(value)}")
        if not lo <= value <= hi:
            raise vol.Invalid(f"must be from {lo} to {hi}, got {value}")
        return value

    return check


@_kind("boolean")
def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "on", "1"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "no", "off", "0"):
        return False
    raise vol.Invalid(f"expected true or false, got {_short(value)}")


@_kind("string")
def _string(value: Any) -> str:
    if _is_number(value):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise vol.Invalid(f"expected a non-empty string, got {_short(value)}")
    return value.strip()


@_kind("secret string")
def _secret(value: Any) -> Secret:
    # Never echo the value: this is where a password would end up in a log.
    if _is_number(value):
        value = str(value)
    if not isinstance(value, str):
        raise vol.Invalid("expected a string (tip: `!env VAR_NAME` or the _file variant)")
    if not value.strip():
        raise vol.Invalid("is empty")
    return Secret(value.strip())


@_kind("path")
def _path(value: Any) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise vol.Invalid(f"expected a file path, got {_short(value)}")
    return Path(value.strip()).expanduser()


@_kind("http(s) URL")
def _url(value: Any) -> str:
    if isinstance(value, str):
        parts = urlsplit(value.strip())
        if parts.scheme in ("http", "https") and parts.netloc and not parts.query:
            return value.strip().rstrip("/")
    raise vol.Invalid(f"expected an http(s) URL like https://exist.io, got {_short(value)}")


@_kind("IANA time zone")
def _timezone(value: Any) -> str:
    if isinstance(value, str) and value.strip():
        try:
            ZoneInfo(value.strip())
            return value.strip()
        except Exception:  # noqa: BLE001 - ZoneInfoNotFoundError, ValueError, OSError...
            pass
    raise vol.Invalid(f"unknown time zone {_short(value)} (expected e.g. Europe/London)")


def _one_of(options: tuple[str, ...], upper: bool = False) -> Callable[[Any], str]:
    @_kind(" | ".join(options))
    def check(value: Any) -> str:
        if isinstance(value, str):
            text = value.strip().upper() if upper else value.strip().lower()
            if text in options:
                return text
        raise vol.Invalid(f"expected one of {', '.join(options)}, got {_short(value)}")

    return check


@_kind("attribute name ([a-z0-9_]+)")
def _attribute_name(value: Any) -> str:
    if isinstance(value, str) and _ATTRIBUTE_NAME.match(value):
        return value
    raise vol.Invalid(
        f"expected an Exist attribute name (lowercase letters, digits, _), got {_short(value)}"
    )


@_kind("Exist group")
def _group(value: Any) -> str:
    if isinstance(value, str) and value.strip().lower() in GROUPS:
        return value.strip().lower()
    hint = ""
    if isinstance(value, str):
        close = difflib.get_close_matches(value.lower(), GROUPS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise vol.Invalid(f"unknown group {_short(value)}{hint}; one of: {', '.join(GROUPS)}")


@_kind("value type 0..8 except 6")
def _value_type(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        if value == 6:
            raise vol.Invalid("value type 6 (minutes from midday) is reserved for templates")
        if value in VALUE_TYPES:
            return value
    choices = ", ".join(f"{k} {v}" for k, v in VALUE_TYPES.items())
    raise vol.Invalid(f"expected a value type ({choices}), got {_short(value)}")


def _topic_problem(value: str, wildcards: bool) -> str | None:
    """Why ``value`` isn't a valid topic filter (paho's subscribe rules) or topic name."""
    if not value:
        return "is empty"
    if len(value.encode("utf-8", "surrogatepass")) > 65535:
        return "is longer than 65535 bytes"
    if "\x00" in value:
        return "contains a NUL character"
    if not wildcards:
        if "+" in value or "#" in value:
            return "may not contain the wildcards + or #"
        return None
    levels = value.split("/")
    for i, level in enumerate(levels):
        if len(level) > 1 and ("+" in level or "#" in level):
            return f"level {level!r}: a wildcard (+ or #) must be a whole level, like a/+/c or a/#"
        if level == "#" and i != len(levels) - 1:
            return "'#' must be the last level"
    return None


@_kind("MQTT topic filter")
def _topic_filter(value: Any) -> str:
    if not isinstance(value, str):
        raise vol.Invalid(f"expected an MQTT topic filter, got {_short(value)}")
    problem = _topic_problem(value, wildcards=True)
    if problem:
        raise vol.Invalid(f"invalid topic filter {_short(value)}: {problem}")
    return value


@_kind("MQTT topic (no wildcards)")
def _topic_name(value: Any) -> str:
    if isinstance(value, str):
        problem = _topic_problem(value.strip().strip("/"), wildcards=False)
        if problem is None:
            return value.strip().strip("/")
        raise vol.Invalid(f"invalid topic {_short(value)}: {problem}")
    raise vol.Invalid(f"expected an MQTT topic, got {_short(value)}")


@_kind("JSON path (data.steps, readings[0].kg)")
def _json_path(value: Any) -> str:
    if not isinstance(value, str):
        raise vol.Invalid(f"expected a JSON path like data.steps, got {_short(value)}")
    try:
        return JsonPath(value).text
    except JsonPathError as err:
        raise vol.Invalid(str(err)) from None


@_kind("Jinja2 template")
def _template(value: Any) -> str:
    if isinstance(value, dict):
        raise vol.Invalid('a template must be quoted in YAML: "{{ value_json.x }}"')
    if not isinstance(value, str) or not value.strip():
        raise vol.Invalid(f"expected a template string, got {_short(value)}")
    try:
        compile_template(value)
    except TemplateCompileError as err:
        where = f" (template line {err.lineno})" if err.lineno and "\n" in value.strip() else ""
        raise vol.Invalid(f"template error{where}: {err.message}") from None
    return value


@_kind("number | value")
def _amount(value: Any) -> int | float | str:
    if isinstance(value, str) and value.strip().lower() == "value":
        return "value"
    if _is_number(value) and math.isfinite(value) and value != 0:
        return value
    raise vol.Invalid(
        f"expected a non-zero number or the word value (add the extracted value), got "
        f"{_short(value)}"
    )


@_kind("positive number")
def _scale(value: Any) -> int | float:
    if _is_number(value) and math.isfinite(value) and value > 0:
        return value
    raise vol.Invalid(
        f"expected a positive number (e.g. 0.001 to turn Wh into kWh), got {_short(value)}"
    )


@_kind("state (true/false/ON/OFF, a number or text)")
def _state(value: Any) -> Any:
    if value is None or isinstance(value, (bool, str)) or _is_number(value):
        if _is_number(value) and not math.isfinite(value):
            raise vol.Invalid("must be finite")
        return normalize_state(value)
    raise vol.Invalid(f"expected a single state value, got {_short(value)}")


@_kind("state or list of states")
def _states(value: Any) -> tuple[Any, ...]:
    if not isinstance(value, list):
        return (_state(value),)
    if not value:
        raise vol.Invalid("expected at least one state")
    out = []
    for index, item in enumerate(value):
        try:
            out.append(_state(item))
        except vol.Invalid as err:
            err.prepend([index])
            raise
    return tuple(out)


def _tls(value: Any) -> dict | None:
    if value is None or value is False:
        return None
    if value is True:
        value = {}
    return TLS_SCHEMA(value)


_tls.kind = "mapping, or true"  # type: ignore[attr-defined]


class ListOf:
    """A list whose items are each validated, every item's errors reported (voluptuous alone
    stops at the first bad item)."""

    def __init__(self, item: Callable[[Any], Any], min_length: int = 0, what: str = "item"):
        self.item = item
        self.min_length = min_length
        self.what = what
        self.kind = f"list of {what}s"

    def __call__(self, value: Any) -> list:
        if value is None and self.min_length == 0:
            return []
        if not isinstance(value, list):
            raise vol.Invalid(f"expected a list of {self.what}s (lines starting with '- ')")
        if len(value) < self.min_length:
            raise vol.Invalid(f"needs at least {self.min_length} {self.what}")
        errors: list[vol.Invalid] = []
        out = []
        for index, item in enumerate(value):
            try:
                out.append(self.item(item))
            except vol.MultipleInvalid as err:
                for e in err.errors:
                    e.prepend([index])
                errors.extend(err.errors)
            except vol.Invalid as err:
                err.prepend([index])
                errors.append(err)
        if errors:
            raise vol.MultipleInvalid(errors)
        return out


class _AttributeItem:
    """An ``attributes`` item: ``{template: x}``, or a custom
    ``{name, label, group, value_type}``."""

    kind = "mapping"

    def __call__(self, value: Any) -> dict:
        if isinstance(value, dict) and "template" in value:
            return ATTRIBUTE_TEMPLATE_SCHEMA(value)
        return ATTRIBUTE_CUSTOM_SCHEMA(value)


def _opt(key: str, description: str, default: Any = vol.UNDEFINED) -> vol.Optional:
    return vol.Optional(key, default=default, description=description)


def _req(key: str, description: str) -> vol.Required:
    return vol.Required(key, description=description)


# =================================================================================== the schema

EXIST_SCHEMA = vol.Schema(
    {
        _opt("base_url", "Exist server (an http(s) URL).", "https://exist.io"): _url,
        _opt(
            "token",
            "A personal/developer token (secret: use !env VAR_NAME). Give token or token_file.",
        ): _secret,
        _opt(
            "token_file",
            "The OAuth2 token file written by `exist-bridge authorize` (JSON: access_token, "
            "refresh_token, expires_at); refreshed tokens are saved back to it.",
        ): _path,
        _opt("client_id", "OAuth2 client id (needed to refresh an OAuth2 token)."): _string,
        _opt("client_secret", "OAuth2 client secret (secret: use !env VAR_NAME)."): _secret,
        _opt("client_secret_file", "A file holding the client secret (alternative)."): _path,
        _opt("timezone", "IANA time zone for 'today'; default: the Exist profile's."): _timezone,
        _opt(
            "requests_per_hour",
            "Request budget per hour, kept under exist.io's limit of 300.",
            280,
        ): _int_range(1, 300),
        _opt("timeout", "Seconds per HTTP request.", 30): _number_range(1, 300),
    }
)

TLS_SCHEMA = vol.Schema(
    {
        _opt("ca_certs", "CA bundle to verify the broker (default: the system's)."): _path,
        _opt("certfile", "Client certificate (PEM)."): _path,
        _opt("keyfile", "Client certificate's private key (PEM)."): _path,
        _opt("insecure", "Skip hostname verification.", False): _boolean,
    }
)

MQTT_SCHEMA = vol.Schema(
    {
        _opt("host", "Broker host name or address.", "localhost"): _string,
        _opt("port", "Broker port (default 1883, or 8883 when tls is set)."): _int_range(1, 65535),
        _opt("username", "Broker user name."): _string,
        _opt("password", "Broker password (secret: use !env VAR_NAME)."): _secret,
        _opt("password_file", "A file holding the broker password (alternative)."): _path,
        _opt("tls", "TLS to the broker: a mapping, or true for the system's CAs."): _tls,
        _opt(
            "client_id",
            "MQTT client id; must be stable for a persistent session.",
            "exist-bridge",
        ): _string,
        _opt("keepalive", "Keepalive in seconds.", 60): _int_range(5, 3600),
        _opt(
            "qos",
            "Subscription QoS, 0 or 1 (1 is needed for the no-loss guarantee; QoS 2 is not "
            "offered: paho cannot hand a QoS 2 message over safely if the process dies).",
            1,
        ): _int_range(0, 1),
        _opt(
            "persistent_session",
            "clean_session=false: the broker queues messages while the bridge is down.",
            True,
        ): _boolean,
        _opt(
            "topic_prefix",
            "Prefix of the bridge's own availability and status topics.",
            "exist-bridge",
        ): _topic_name,
        _opt(
            "discovery", "Publish Home Assistant MQTT discovery for the bridge's health.", False
        ): _boolean,
        _opt("discovery_prefix", "Home Assistant's discovery prefix.", "homeassistant"): (
            _topic_name
        ),
    }
)

BRIDGE_SCHEMA = vol.Schema(
    {
        _opt("state_dir", "Where the SQLite outbox and token/budget state live.", "./state"): (
            _path
        ),
        _opt(
            "flush_interval",
            "Seconds between sends to Exist (the coalescing window). Each flush spends one "
            "request per 35 changed totals, so 60 stays far inside the 300/hour budget.",
            60,
        ): _number_range(1, 86400),
        _opt(
            "max_payload_bytes",
            "Larger messages are rejected as bad input.",
            262_144,
        ): _int_range(1, MAX_MQTT_PACKET),
        _opt("log_level", "DEBUG, INFO, WARNING or ERROR.", "INFO"): _one_of(LOG_LEVELS, True),
        _opt(
            "stop_timeout",
            "Seconds SIGTERM/Ctrl-C may take: what Exist has not confirmed by then stays in the "
            "outbox and is sent at the next start. Keep it below the supervisor's kill timeout "
            "(the compose file's stop_grace_period 90 s, systemd's 90 s; plain `docker stop` "
            "waits 10 s unless given -t).",
            25,
        ): _number_range(1, 3600),
    }
)

ATTRIBUTE_TEMPLATE_SCHEMA = vol.Schema(
    {
        _req(
            "template", "A templated attribute (e.g. steps), acquired with manual=false."
        ): _attribute_name,
    }
)

ATTRIBUTE_CUSTOM_SCHEMA = vol.Schema(
    {
        _req("name", "A custom attribute: acquired by name, created when missing."): (
            _attribute_name
        ),
        _req("label", "Its label (Exist derives the name from it when creating)."): _string,
        _req("group", "Its group: " + ", ".join(GROUPS) + "."): _group,
        _req(
            "value_type",
            "Its value type: " + ", ".join(f"{k} {v}" for k, v in VALUE_TYPES.items()) + ".",
        ): _value_type,
    }
)

EDGE_SCHEMA = vol.Schema(
    {
        _opt("from", "The state before (omit: any other state)."): _state,
        _req("to", "The state after."): _state,
    }
)

MAPPING_SCHEMA = vol.Schema(
    {
        _req(
            "topic", "MQTT topic filter (+ and # wildcards, each a whole level; # last)."
        ): _topic_filter,
        _req("attribute", "The Exist attribute written."): _attribute_name,
        _opt(
            "mode",
            "increment: each counted message adds `amount`; update: the message carries the "
            "day's total (last one wins); counter: the value is a cumulative meter reading "
            "(e.g. energy Total), each reading adds its increase over the previous one (per "
            "topic) times `scale`: the first reading is only a baseline, a lower reading is a "
            "meter reset and adds itself (counted from zero), a retained reading adds only an "
            "increase; duration: the value is an on/off state, the whole minutes spent on (by "
            "the bridge's receive times) are added (seconds carried over, split at local "
            "midnight; a repeated on adds the minutes so far without restarting the clock; a "
            "retained message never adds time).",
            "increment",
        ): _one_of(MODES),
        _opt(
            "json_path",
            "Where the value is in a JSON payload: contact, data.steps, readings[0].kg.",
        ): _json_path,
        _opt(
            "value_template",
            "Jinja2 template giving the value (variables value, value_json, topic); "
            "exclusive with json_path.",
        ): _template,
        _opt(
            "condition",
            "Jinja2 template; the message counts only if it renders true/1/yes/on.",
        ): _template,
        _opt(
            "edge",
            "increment mode only: count only transitions of the value from `from` to `to` "
            "(per topic), not repeated states.",
        ): EDGE_SCHEMA,
        _opt(
            "amount",
            "increment mode only: the number added per counted message, or `value` to add the "
            "extracted value.",
            1,
        ): _amount,
        _opt(
            "retained",
            "ignore: a retained message (a state snapshot) never counts, but seeds edge state; "
            "apply: update-mode mappings use it. (counter and duration modes have their own "
            "rules, see mode.)",
            "ignore",
        ): _one_of(("ignore", "apply")),
        _opt(
            "scale",
            "counter mode only: multiplies each increase of the reading (0.001 turns Wh into "
            "kWh). On an integer attribute fractions are carried to the next reading, so the "
            "day's total stays whole and nothing is lost.",
            1,
        ): _scale,
        _opt(
            "on_states",
            "duration mode only: the state(s) meaning on (a state or a list); any other value "
            "is off. Default: true/ON/on, 1, occupied, open, home, detected. (Not `on:`: YAML "
            "reads an unquoted on as true.)",
        ): _states,
    }
)

CONFIG_SCHEMA = vol.Schema(
    {
        _req("exist", "The Exist account and API."): EXIST_SCHEMA,
        _opt("mqtt", "The MQTT broker.", dict): MQTT_SCHEMA,
        _opt("bridge", "The bridge itself.", dict): BRIDGE_SCHEMA,
        _opt("attributes", "Attributes to acquire (or create) at start.", list): ListOf(
            _AttributeItem(), what="attribute"
        ),
        _req("mappings", "MQTT topics and what their messages mean for Exist."): ListOf(
            MAPPING_SCHEMA, min_length=1, what="mapping"
        ),
    }
)

SECRET_FILES = {("exist", "client_secret"), ("mqtt", "password")}  # <field>_file alternatives


def describe_schema() -> list[dict[str, Any]]:
    """Rows for a configuration reference, in schema order: ``key`` (``mqtt.tls.ca_certs``,
    ``mappings[].topic``), ``type``, ``required``, ``default`` (None when there is none) and
    ``description``."""
    rows: list[dict[str, Any]] = []

    def walk(schema: Any, prefix: str) -> None:
        for marker, validator in schema.schema.items():
            key = f"{prefix}{marker.schema}"
            default = None
            if isinstance(marker, vol.Optional) and marker.default is not vol.UNDEFINED:
                default = marker.default()
                if isinstance(default, dict):
                    default = None  # a section: its keys have the defaults
            nested = TLS_SCHEMA if validator is _tls else validator
            if isinstance(nested, ListOf):
                kind = nested.kind
            elif isinstance(nested, vol.Schema):
                kind = "mapping" if validator is not _tls else _tls.kind  # type: ignore[attr-defined]
            else:
                kind = getattr(validator, "kind", "value")
            rows.append(
                {
                    "key": key,
                    "type": kind,
                    "required": isinstance(marker, vol.Required),
                    "default": default,
                    "description": marker.description or "",
                }
            )
            if isinstance(nested, vol.Schema):
                walk(nested, key + ".")
            elif isinstance(nested, ListOf) and isinstance(nested.item, vol.Schema):
                walk(nested.item, key + "[].")
            elif isinstance(nested, ListOf) and isinstance(nested.item, _AttributeItem):
                walk(ATTRIBUTE_TEMPLATE_SCHEMA, key + "[].")
                walk(ATTRIBUTE_CUSTOM_SCHEMA, key + "[].")

    walk(CONFIG_SCHEMA, "")
    return rows


# =================================================================================== YAML


class _MissingEnv:
    """Stands in for a ``!env`` value whose variable isn't set (reported once, by name)."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"<unset ${self.name}>"


class _Loader(yaml.SafeLoader):
    env: Mapping[str, str] = os.environ
    missing: list[tuple[yaml.Node, str]]


def _construct_env(loader: _Loader, node: yaml.Node) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise yaml.constructor.ConstructorError(
            None, None, "!env takes a variable name, like !env EXIST_TOKEN", node.start_mark
        )
    name = str(loader.construct_scalar(node)).strip()
    if name in loader.env:
        return loader.env[name]
    loader.missing.append((node, name))
    return _MissingEnv(name)


_Loader.add_constructor("!env", _construct_env)


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+\Z")


def _format_path(path: tuple) -> str:
    """``("mappings", 2, "topic")`` -> ``mappings[2].topic`` (odd keys quoted: ``a['x y']``)."""
    text = ""
    for step in path:
        if isinstance(step, int) and not isinstance(step, bool):
            text += f"[{step}]"
        elif not isinstance(step, str) or not _PLAIN_KEY.match(step):
            text += f"[{_short(step)}]"
        else:
            text += f".{step}" if text else step
    return text


class _Document:
    """The YAML text composed once: the data, each key's line, and problems found on the way."""

    def __init__(self, text: str, env: Mapping[str, str]):
        self.lines: dict[tuple, int] = {}
        self.node_paths: dict[int, list[tuple]] = {}  # a node has several paths via aliases
        self.problems: list[Problem] = []
        self.env_missing: list[tuple] = []
        self.env_problems: list[Problem] = []
        self.data: Any = None
        try:
            loader = _Loader(text)
        except yaml.reader.ReaderError as err:
            line = text[: err.position].count("\n") + 1 if err.position is not None else None
            self.problems.append(Problem("", line, f"YAML error: {err.reason}"))
            return
        loader.env = env
        loader.missing = []
        try:
            root = loader.get_single_node()
            if root is not None:
                self.lines[()] = root.start_mark.line + 1
                self._walk(root, ())
                self.data = loader.construct_document(root)
        except yaml.MarkedYAMLError as err:
            self.problems.append(self._yaml_problem(err))
            return
        except yaml.YAMLError as err:
            self.problems.append(Problem("", None, f"YAML error: {err}"))
            return
        except RecursionError:
            self.problems.append(Problem("", None, "YAML error: nested too deeply"))
            return
        finally:
            loader.dispose()
        for node, name in loader.missing:
            paths = self.node_paths.get(id(node)) or [()]
            self.env_missing.extend(paths)
            path = paths[0]
            self.env_problems.append(
                Problem(
                    _format_path(path),
                    self.line(path) if path else node.start_mark.line + 1,
                    f"environment variable {name} is not set (from !env {name})"
                    if _ENV_NAME.match(name)
                    else f"!env needs a variable name, got {name!r}",
                )
            )

    @staticmethod
    def _yaml_problem(err: yaml.MarkedYAMLError) -> Problem:
        # Only the parser's own words and the position: the snippet could show a secret.
        mark = err.problem_mark or err.context_mark
        message = " ".join(m for m in (err.context, err.problem) if m) or "YAML syntax error"
        if "unhashable" in message:
            message += ' (is a template unquoted? write "{{ ... }}" in quotes)'
        if "could not determine a constructor" in message:
            message += " (secrets: use !env VAR_NAME or a <field>_file key)"
        line = mark.line + 1 if mark is not None else None
        context = err.context_mark
        if context is not None and line is not None and context.line + 1 != line:
            message += f" (it starts on line {context.line + 1})"
        return Problem("", line, f"YAML syntax error: {message}")

    def _walk(self, node: yaml.Node, path: tuple) -> None:
        if id(node) in self.node_paths and not isinstance(node, yaml.ScalarNode):
            return  # an alias of a collection already walked (and no billion laughs)
        self.node_paths.setdefault(id(node), []).append(path)
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, value_node, merged in self._pairs(node):
                if not isinstance(key_node, yaml.ScalarNode):
                    continue
                key = key_node.value
                here = path + (key,)
                if not merged:
                    line = key_node.start_mark.line + 1
                    if key in seen:
                        self.problems.append(
                            Problem(
                                _format_path(here),
                                line,
                                f"duplicate key (first on line {seen[key]}); YAML keeps only the "
                                "last",
                            )
                        )
                        continue
                    seen[key] = line
                elif key in seen:
                    continue  # overridden by an explicit key
                else:
                    seen[key] = key_node.start_mark.line + 1
                self.lines[here] = seen[key]
                self._walk(value_node, here)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self.lines[path + (index,)] = item.start_mark.line + 1
                self._walk(item, path + (index,))

    @staticmethod
    def _pairs(node: yaml.MappingNode) -> Iterator[tuple[yaml.Node, yaml.Node, bool]]:
        """The mapping's pairs (key, value, merged): explicit keys first, then ``<<`` merges."""
        merged: list[tuple[yaml.Node, yaml.Node, bool]] = []
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                sources = (
                    value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                )
                for source in sources:
                    if isinstance(source, yaml.MappingNode):
                        merged.extend((k, v, True) for k, v, _ in _Document._pairs(source))
            else:
                yield key_node, value_node, False
        yield from merged

    def line(self, path: tuple) -> int | None:
        """The line of ``path``'s key, else of the nearest enclosing key (for a missing key)."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())


# =================================================================================== checks


def _schema_at(path: tuple) -> Any:
    """The schema(s) of the mapping at ``path``, to suggest keys for a typo."""
    schemas: list[Any] = [CONFIG_SCHEMA]
    for step in path:
        found: list[Any] = []
        for schema in schemas:
            if isinstance(step, int):
                if isinstance(schema, ListOf):
                    item = schema.item
                    found.extend(
                        [ATTRIBUTE_TEMPLATE_SCHEMA, ATTRIBUTE_CUSTOM_SCHEMA]
                        if isinstance(item, _AttributeItem)
                        else [item]
                    )
                continue
            if not isinstance(schema, vol.Schema) or not isinstance(schema.schema, dict):
                continue
            for marker, validator in schema.schema.items():
                if marker.schema == step:
                    found.append(TLS_SCHEMA if validator is _tls else validator)
        schemas = found
    keys: list[str] = []
    for schema in schemas:
        if isinstance(schema, vol.Schema) and isinstance(schema.schema, dict):
            keys.extend(str(m.schema) for m in schema.schema)
    return keys


def _schema_problems(err: vol.MultipleInvalid, doc: _Document) -> list[Problem]:
    problems = []
    for e in err.errors:
        path = tuple(step.schema if isinstance(step, vol.Marker) else step for step in e.path)
        message = e.error_message
        if message == "extra keys not allowed" and path and isinstance(path[-1], bool):
            message = (
                f"unknown key {str(path[-1]).lower()} (YAML reads an unquoted on/off/yes/no key "
                "as a boolean; for duration mode's on states write on_states)"
            )
        elif message == "extra keys not allowed":
            known = _schema_at(path[:-1])
            close = difflib.get_close_matches(str(path[-1]), known, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(known)}"
            message = f"unknown key ({hint})"
        elif message == "required key not provided":
            message = "required key is missing"
        elif message == "expected a dictionary":
            message = "expected a mapping (indented key: value lines)"
        problems.append(Problem(_format_path(path), doc.line(path), message))
    return problems


def _get(item: Any, key: str, default: Any = None) -> Any:
    return item.get(key, default) if isinstance(item, dict) else default


def _mode_of(item: Any) -> str | None:
    mode = _get(item, "mode", "increment")
    return mode.strip().lower() if isinstance(mode, str) and mode.strip().lower() in MODES else None


_AMOUNT_WHY = {
    "update": "in update mode the message carries the total",
    "counter": "counter mode adds the reading's increase, times scale",
    "duration": "duration mode adds the minutes spent on",
}
_RETAINED_WHY = {
    "increment": "retained: apply only applies to update mode (a retained message is a snapshot, "
    "not an event)",
    "counter": "retained: apply only applies to update mode (counter mode always compares a "
    "retained reading with the last one, and counts only an increase)",
    "duration": "retained: apply only applies to update mode (in duration mode a retained state "
    "never adds time: when it changed is unknown)",
}


def _slug(label: str) -> str:
    ascii_label = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", ascii_label.lower()).strip("_")


def _resolve(path: Path, base_dir: Path | None) -> Path:
    return path if path.is_absolute() or base_dir is None else base_dir / path


def _cross_checks(
    data: dict, doc: _Document, base_dir: Path | None
) -> tuple[list[Problem], list[Problem]]:
    """Checks across keys and items, on the raw data (so they run even when other keys are
    invalid). Returns (problems, warnings)."""
    problems: list[Problem] = []
    warnings: list[Problem] = []

    def add(target: list[Problem], path: tuple, message: str) -> None:
        target.append(Problem(_format_path(path), doc.line(path), message))

    exist = data.get("exist")
    if isinstance(exist, dict):
        if "token" in exist and "token_file" in exist:
            add(problems, ("exist", "token_file"), "give token or token_file, not both")
        elif "token" not in exist and "token_file" not in exist:
            add(
                problems,
                ("exist", "token"),
                "required: token (a personal token, e.g. !env EXIST_TOKEN) or token_file (from "
                "`exist-bridge authorize`)",
            )
        has_secret = "client_secret" in exist or "client_secret_file" in exist
        if has_secret and "client_id" not in exist:
            add(problems, ("exist", "client_id"), "client_secret is given, so client_id is needed")
        if "token_file" in exist and not ("client_id" in exist and has_secret):
            add(
                warnings,
                ("exist", "token_file"),
                "without client_id and client_secret the OAuth2 token can't be refreshed when it "
                "expires",
            )
    mqtt = data.get("mqtt")
    if isinstance(mqtt, dict):
        has_password = "password" in mqtt or "password_file" in mqtt
        if has_password and "username" not in mqtt:
            add(problems, ("mqtt", "username"), "a password is given, so username is needed")
        tls = mqtt.get("tls")
        if isinstance(tls, dict) and "keyfile" in tls and "certfile" not in tls:
            add(problems, ("mqtt", "tls", "certfile"), "keyfile is given, so certfile is needed")
    for section, key in SECRET_FILES:
        block = data.get(section)
        if isinstance(block, dict) and key in block and f"{key}_file" in block:
            add(problems, (section, f"{key}_file"), f"give {key} or {key}_file, not both")
    # Files that must exist now (the token file may not: `exist-bridge authorize` writes it).
    files = [(s, f"{k}_file") for s, k in sorted(SECRET_FILES)]
    files += [("mqtt", "tls", k) for k in ("ca_certs", "certfile", "keyfile")]
    for where in files:
        value: Any = data
        for step in where:
            value = _get(value, step)
        if isinstance(value, str) and value.strip():
            path = _resolve(Path(value.strip()).expanduser(), base_dir)
            if not path.is_file():
                add(problems, where, f"no file {path}")

    # attributes: duplicates, and what mappings may do with custom ones
    declared: dict[str, tuple[int, Any]] = {}
    attributes = data.get("attributes")
    for index, item in enumerate(attributes if isinstance(attributes, list) else []):
        key = "template" if "template" in (item if isinstance(item, dict) else {}) else "name"
        name = _get(item, key)
        if not isinstance(name, str):
            continue
        if name in declared:
            add(
                problems,
                ("attributes", index, key),
                f"attribute {name!r} is already listed at attributes[{declared[name][0]}]",
            )
            continue
        declared[name] = (index, item)
        label = _get(item, "label")
        if key == "name" and isinstance(label, str) and label.strip() and _slug(label) != name:
            add(
                warnings,
                ("attributes", index, "label"),
                f"Exist names a new attribute after its label ({_slug(label)!r}), not {name!r}: "
                f"if {name!r} doesn't exist yet, creating it gives {_slug(label)!r}",
            )

    mappings = data.get("mappings")
    first_mode: dict[str, tuple[int, str]] = {}
    unlisted: set[str] = set()
    for index, item in enumerate(mappings if isinstance(mappings, list) else []):
        if not isinstance(item, dict):
            continue
        here = ("mappings", index)
        mode = _mode_of(item)
        if "json_path" in item and "value_template" in item:
            add(problems, here + ("value_template",), "json_path and value_template are exclusive")
        if mode is not None and mode != "increment":
            if "edge" in item:
                add(problems, here + ("edge",), "edge only applies to increment mode")
            if "amount" in item:
                add(
                    problems,
                    here + ("amount",),
                    f"amount only applies to increment mode ({_AMOUNT_WHY[mode]})",
                )
        if mode is not None and mode != "counter" and "scale" in item:
            add(problems, here + ("scale",), "scale only applies to counter mode")
        if mode is not None and mode != "duration" and "on_states" in item:
            add(problems, here + ("on_states",), "on_states only applies to duration mode")
        retained = _get(item, "retained")
        if (
            mode in INCREMENTING_MODES
            and isinstance(retained, str)
            and retained.strip().lower() == "apply"
        ):
            add(problems, here + ("retained",), _RETAINED_WHY[mode])
        edge = item.get("edge")
        if isinstance(edge, dict) and "from" in edge and "to" in edge:
            try:
                same = same_state(_state(edge["from"]), _state(edge["to"]))
            except vol.Invalid:
                same = False
            if same:
                add(problems, here + ("edge",), "from and to are the same state")
        attribute = item.get("attribute")
        if not isinstance(attribute, str) or mode is None:
            continue
        mode_path = here + ("mode",) if "mode" in item else here + ("attribute",)
        if attribute in first_mode and (first_mode[attribute][1] == "update") != (mode == "update"):
            other, other_mode = first_mode[attribute]
            add(
                problems,
                mode_path,
                f"attribute {attribute!r} is fed in {other_mode} mode by mappings[{other}] and in "
                f"{mode} mode here; one attribute takes either updates or increments",
            )
        first_mode.setdefault(attribute, (index, mode))
        spec = declared.get(attribute, (None, None))[1]
        value_type = _get(spec, "value_type")
        if "template" not in (spec or {}) and isinstance(value_type, int):
            if mode in INCREMENTING_MODES and value_type in NOT_INCREMENTABLE:
                add(
                    problems,
                    mode_path,
                    f"{attribute!r} has value type {value_type} "
                    f"({VALUE_TYPES.get(value_type, '?')}), which Exist can't increment; use "
                    "mode: update",
                )
            elif mode == "duration" and value_type not in DURATION_TYPES:
                add(
                    problems,
                    mode_path,
                    f"{attribute!r} has value type {value_type} "
                    f"({VALUE_TYPES.get(value_type, '?')}); duration mode adds minutes: give it "
                    "value type 3 (duration), or 0 or 1",
                )
            amount = item.get("amount", 1)
            if (
                mode == "increment"
                and value_type in INTEGER_TYPES
                and _is_number(amount)
                and not isinstance(amount, int)
            ):
                add(
                    problems,
                    here + ("amount",),
                    f"{attribute!r} holds integers (value type {value_type}); amount must be a "
                    "whole number",
                )
        if spec is None and attribute not in unlisted:
            unlisted.add(attribute)
            add(
                warnings,
                here + ("attribute",),
                f"{attribute!r} is not listed under attributes: the bridge won't acquire it, so "
                "it must already belong to this client",
            )
    return problems, warnings


# =================================================================================== building


def _read_secret_file(path: Path, where: tuple, doc: _Document, problems: list[Problem]) -> Any:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else type(err).__name__
        message = f"can't read {path}: {reason}"
        problems.append(Problem(_format_path(where), doc.line(where), message))
        return None
    if not text:
        problems.append(Problem(_format_path(where), doc.line(where), f"{path} is empty"))
        return None
    return Secret(text)


def _build(
    valid: dict, doc: _Document, base_dir: Path | None, problems: list[Problem]
) -> tuple[ExistSettings, MqttSettings, BridgeSettings, list[AttributeSpec], list[MappingSpec]]:
    def resolve(p: Path | None) -> Path | None:
        return None if p is None else _resolve(p, base_dir)

    def secret(section: str, key: str) -> Secret | None:
        block = valid[section]
        if f"{key}_file" in block:
            return _read_secret_file(
                resolve(block[f"{key}_file"]), (section, f"{key}_file"), doc, problems
            )
        return block.get(key)

    e = valid["exist"]
    exist = ExistSettings(
        base_url=e["base_url"],
        token=e.get("token"),
        token_file=resolve(e.get("token_file")),
        client_id=e.get("client_id"),
        client_secret=secret("exist", "client_secret"),
        timezone=e.get("timezone"),
        requests_per_hour=e["requests_per_hour"],
        timeout=e["timeout"],
    )
    m = valid["mqtt"]
    tls = None
    if m.get("tls") is not None:
        t = m["tls"]
        tls = TlsSettings(
            ca_certs=resolve(t.get("ca_certs")),
            certfile=resolve(t.get("certfile")),
            keyfile=resolve(t.get("keyfile")),
            insecure=t["insecure"],
        )
    mqtt = MqttSettings(
        host=m["host"],
        port=m.get("port", 8883 if tls is not None else 1883),
        username=m.get("username"),
        password=secret("mqtt", "password"),
        tls=tls,
        client_id=m["client_id"],
        keepalive=m["keepalive"],
        qos=m["qos"],
        persistent_session=m["persistent_session"],
        topic_prefix=m["topic_prefix"],
        discovery=m["discovery"],
        discovery_prefix=m["discovery_prefix"],
    )
    b = valid["bridge"]
    bridge = BridgeSettings(
        state_dir=resolve(b["state_dir"]),
        flush_interval=b["flush_interval"],
        max_payload_bytes=b["max_payload_bytes"],
        log_level=b["log_level"],
        stop_timeout=b["stop_timeout"],
    )
    attributes = []
    for index, a in enumerate(valid["attributes"]):
        line = doc.line(("attributes", index))
        if "template" in a:
            attributes.append(AttributeSpec(name=a["template"], template=a["template"], line=line))
        else:
            attributes.append(
                AttributeSpec(
                    name=a["name"],
                    label=a["label"],
                    group=a["group"],
                    value_type=a["value_type"],
                    line=line,
                )
            )
    mappings = []
    for index, item in enumerate(valid["mappings"]):
        edge = None
        if "edge" in item:
            edge = EdgeSpec(
                to=item["edge"]["to"],
                from_=item["edge"].get("from"),
                has_from="from" in item["edge"],
            )
        on_states = item.get("on_states")
        mappings.append(
            MappingSpec(
                topic=item["topic"],
                attribute=item["attribute"],
                mode=item["mode"],
                json_path=item.get("json_path"),
                value_template=item.get("value_template"),
                condition=item.get("condition"),
                edge=edge,
                amount=item["amount"],
                retained=item["retained"],
                scale=item["scale"],
                on_states=tuple(on_states) if on_states is not None else None,
                line=doc.line(("mappings", index)),
            )
        )
    return exist, mqtt, bridge, attributes, mappings


def parse_config(
    text: str,
    source: str = "<string>",
    *,
    base_dir: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> BridgeConfig:
    """Parse and check a configuration; raises ``ConfigError`` listing every problem.

    ``source`` names the file in messages. Relative paths in the file (state_dir, token_file,
    *_file, TLS files) are taken relative to ``base_dir`` (default: the working directory).
    ``env`` replaces ``os.environ`` for ``!env`` (tests).
    """
    doc = _Document(text, os.environ if env is None else env)
    problems = list(doc.problems)
    if doc.data is None and not problems:
        problems.append(Problem("", 1, "the file is empty; it needs at least exist and mappings"))
    elif doc.data is not None and not isinstance(doc.data, dict):
        problems.append(Problem("", doc.line(()), "expected a mapping of sections (exist, ...)"))
    if problems and not isinstance(doc.data, dict):
        raise ConfigError(problems, source)

    data = dict(doc.data)
    for section in ("mqtt", "bridge"):
        if section in data and data[section] is None:
            data[section] = {}  # a section left with every key commented out
    valid = None
    try:
        valid = CONFIG_SCHEMA(data)
    except vol.MultipleInvalid as err:
        problems.extend(_schema_problems(err, doc))
    base = Path(base_dir) if base_dir is not None else None
    cross, warn = _cross_checks(data, doc, base)
    problems.extend(cross)
    # A value from an unset !env variable fails validation too: report only the variable.
    unset = [_format_path(path) for path in doc.env_missing]
    problems = [
        p
        for p in problems
        if not any(p.path == u or p.path.startswith((u + ".", u + "[")) for u in unset)
    ]
    problems.extend(doc.env_problems)
    if problems or valid is None:
        raise ConfigError(_ordered(problems), source)
    exist, mqtt, bridge, attributes, mappings = _build(valid, doc, base, problems)
    if problems:
        raise ConfigError(_ordered(problems), source)
    return BridgeConfig(
        exist=exist,
        mqtt=mqtt,
        bridge=bridge,
        attributes=attributes,
        mappings=mappings,
        warnings=[w.format(source) for w in _ordered(warn)],
        source=source,
    )


def _ordered(problems: list[Problem]) -> list[Problem]:
    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=lambda p: (p.line if p.line is not None else 0, p.path))


def load_config(path: str | os.PathLike[str]) -> BridgeConfig:
    """Read and check the configuration file at ``path`` (relative paths inside it are taken
    relative to the file's directory); raises ``ConfigError``."""
    source = os.fspath(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise ConfigError([Problem("", None, f"can't read the file: {reason}")], source) from None
    return parse_config(text, source, base_dir=Path(path).resolve().parent)
