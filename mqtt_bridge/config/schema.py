"""The voluptuous schema: every key once, with its validator, default and description.

A new key: add it to its section's schema here and as a field of the section's dataclass in
``model.py`` (``build.py`` copies it by name; the documentation's reference is generated from here).
A mapping key that only some modes take: also list it in ``MODE_ONLY``.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

import voluptuous as vol

from ..exist.domain import CREATABLE_VALUE_TYPES, GROUPS, MAX_REQUESTS_PER_HOUR
from ..expressions import same_state
from . import validators as v
from .model import INCREMENTING_MODES, LOG_LEVELS, MAX_MQTT_PACKET, MODES, Problem
from .source import Document, format_path


def _opt(key: str, description: str, default: Any = vol.UNDEFINED) -> vol.Optional:
    return vol.Optional(key, default=default, description=description)


def _req(key: str, description: str) -> vol.Required:
    return v.required(key, description)


class _Tls:
    """``mqtt.tls``: a mapping (``TLS_SCHEMA``), or true for the system's CAs."""

    kind = "mapping, or true"

    @property
    def inner(self) -> vol.Schema:
        return TLS_SCHEMA

    def __call__(self, value: Any) -> dict[str, Any] | None:
        if value is None or value is False:
            return None
        return TLS_SCHEMA({} if value is True else value)


class _AttributeItem:
    """An ``attributes`` item: ``{template: x}``, or a custom
    ``{name, label, group, value_type}``."""

    kind = "mapping"

    def __call__(self, value: Any) -> dict:
        if isinstance(value, dict) and "template" in value:
            return ATTRIBUTE_TEMPLATE_SCHEMA(value)
        return ATTRIBUTE_CUSTOM_SCHEMA(value)


ACCOUNT_SCHEMA = v.Section(
    {
        _req(
            "name",
            "What mappings call it (`account: NAME`), shown in status, the status page and "
            "metrics.",
        ): v.account_name,
        _opt("token", "This account's token (secret: use !env or !secret)."): v.secret,
        _opt(
            "token_file",
            "This account's OAuth2 token file (`exist-bridge authorize --token-file ...`).",
        ): v.path,
        _opt(
            "timezone",
            "IANA time zone for this account's 'today' (default: exist.timezone, "
            "else its Exist profile's).",
        ): v.timezone,
        _opt(
            "requests_per_hour",
            "This account's request budget per hour (default: exist.requests_per_hour).",
        ): v.int_range(1, MAX_REQUESTS_PER_HOUR),
    }
)

EXIST_SCHEMA = v.Section(
    {
        _opt(
            "base_url",
            "Exist server (an http(s) URL with a valid host name or IP address, without the "
            "API's /api/2; a start that can't reach it names this key).",
            "https://exist.io",
        ): v.url,
        _opt(
            "token",
            "A personal/developer token (secret: use !env VAR_NAME). Give token or token_file.",
        ): v.secret,
        _opt(
            "token_file",
            "The OAuth2 token file written by `exist-bridge authorize` (JSON: access_token, "
            "refresh_token, expires_at); refreshed tokens are saved back to it.",
        ): v.path,
        _opt("client_id", "OAuth2 client id (needed to refresh an OAuth2 token)."): v.string,
        _opt("client_secret", "OAuth2 client secret (secret: use !env VAR_NAME)."): v.secret,
        _opt("client_secret_file", "A file holding the client secret (alternative)."): v.path,
        _opt("timezone", "IANA time zone for 'today'; default: the Exist profile's."): v.timezone,
        _opt(
            "requests_per_hour",
            "Request budget per hour, kept under exist.io's limit of 300.",
            280,
        ): v.int_range(1, MAX_REQUESTS_PER_HOUR),
        _opt("timeout", "Seconds per HTTP request.", 30): v.number_range(1, 300),
        _opt(
            "accounts",
            "Several Exist accounts (a household sharing one broker): each with its own name, "
            "token or token_file, and optionally timezone and requests_per_hour (default: the "
            "keys of this section). Mappings name theirs with `account`; the first is the "
            "default. Exclusive with exist.token and exist.token_file.",
        ): v.ListOf(ACCOUNT_SCHEMA, min_length=1, what="account"),
    }
)

TLS_SCHEMA = v.Section(
    {
        _opt("ca_certs", "CA bundle to verify the broker (default: the system's)."): v.path,
        _opt("certfile", "Client certificate (PEM)."): v.path,
        _opt("keyfile", "Client certificate's private key (PEM)."): v.path,
        _opt("insecure", "Skip hostname verification.", False): v.boolean,
    }
)

MQTT_SCHEMA = v.Section(
    {
        _opt("host", "Broker host name or address.", "localhost"): v.string,
        _opt("port", "Broker port (default 1883, or 8883 when tls is set)."): v.int_range(1, 65535),
        _opt("username", "Broker user name."): v.string,
        _opt("password", "Broker password (secret: use !env VAR_NAME)."): v.secret,
        _opt("password_file", "A file holding the broker password (alternative)."): v.path,
        _opt("tls", "TLS to the broker: a mapping, or true for the system's CAs."): _Tls(),
        _opt(
            "client_id",
            "MQTT client id; must be stable for a persistent session.",
            "exist-bridge",
        ): v.string,
        _opt("keepalive", "Keepalive in seconds.", 60): v.int_range(5, 3600),
        _opt(
            "qos",
            "Subscription QoS, 0 or 1 (1 is needed for the no-loss guarantee; QoS 2 is not "
            "offered: paho cannot hand a QoS 2 message over safely if the process dies).",
            1,
        ): v.int_range(0, 1),
        _opt(
            "persistent_session",
            "clean_session=false: the broker queues messages while the bridge is down.",
            True,
        ): v.boolean,
        _opt(
            "topic_prefix",
            "Prefix of the bridge's own availability and status topics.",
            "exist-bridge",
        ): v.topic_name,
        _opt(
            "discovery", "Publish Home Assistant MQTT discovery for the bridge's health.", False
        ): v.boolean,
        _opt("discovery_prefix", "Home Assistant's discovery prefix.", "homeassistant"): (
            v.topic_name
        ),
    }
)

BRIDGE_SCHEMA = v.Section(
    {
        _opt("state_dir", "Where the SQLite outbox and token/budget state live.", "./state"): (
            v.path
        ),
        _opt(
            "event_delay",
            "Seconds a counted event (increment, counter and duration modes) may wait before "
            "it is sent to Exist. A change gets its deadline when it first becomes pending; "
            "at the earliest deadline everything pending goes, 35 totals per request, so "
            "events arriving meanwhile ride along for free. A day's totals are sent at its "
            "local midnight at the latest.",
            300,
        ): v.number_range(1, 86400),
        _opt(
            "total_delay",
            "Seconds a running total or reading (update mode: steps, weight) may wait before "
            "it is sent. Exist asks periodic data to be synced once an hour at most.",
            3600,
        ): v.number_range(1, 86400),
        _opt(
            "flush_interval",
            "Deprecated (before deadlines, the seconds between sends): stands for "
            "event_delay and total_delay where they are not given, with a warning.",
        ): v.number_range(1, 86400),
        _opt(
            "max_payload_bytes",
            "Larger messages are rejected as bad input.",
            262_144,
        ): v.int_range(1, MAX_MQTT_PACKET),
        _opt("log_level", "DEBUG, INFO, WARNING or ERROR.", "INFO"): v.one_of(LOG_LEVELS, True),
        _opt(
            "stop_timeout",
            "Seconds SIGTERM/Ctrl-C may take: what Exist has not confirmed by then stays in the "
            "outbox and is sent at the next start. Keep it below the supervisor's kill timeout "
            "(the compose file's stop_grace_period 90 s, systemd's 90 s; plain `docker stop` "
            "waits 10 s unless given -t).",
            25,
        ): v.number_range(1, 3600),
        _opt(
            "event_time_window",
            "Seconds: a mapping's event_time more than this long before the message's receipt is "
            "not trusted (the message is counted at its receive time, and the reason counted). "
            "Make it longer than the bridge may be down while the broker keeps its messages.",
            7 * 86400,
        ): v.number_range(60, 366 * 86400),
        _opt(
            "event_time_skew",
            "Seconds: a mapping's event_time more than this far after the message's receipt (a "
            "device clock ahead) is not trusted either.",
            300,
        ): v.number_range(0, 86400),
    }
)

HTTP_SCHEMA = v.Section(
    {
        _opt(
            "enabled",
            "Serve /healthz (JSON, 200 or 503 with the reason), /metrics (Prometheus) and a "
            "read-only status page. On in the Home Assistant add-on.",
            False,
        ): v.boolean,
        _opt(
            "host",
            "Address to listen on; 127.0.0.1 keeps it on this machine (0.0.0.0: every interface).",
            "127.0.0.1",
        ): v.string,
        _opt("port", "TCP port to listen on.", 8099): v.int_range(1, 65535),
    }
)

READ_SCHEMA = v.Section(
    {
        _opt(
            "enabled",
            "Mirror Exist into MQTT (on when the read section is given; false turns it off).",
            True,
        ): v.boolean,
        _opt(
            "account",
            "With exist.accounts: whose values are mirrored (default: the first account).",
        ): v.account_name,
        _opt(
            "attributes",
            "Which attributes to mirror: a list of names, or all (every attribute the token's "
            "read scopes show). With groups, both are mirrored.",
        ): v.attribute_selection,
        _opt("groups", "Mirror every attribute of these groups (e.g. [mood, sleep])."): v.groups,
        _opt(
            "interval",
            "Seconds between refreshes (one request each, plus a page per 100 attributes). "
            "Exist's values change a few times a day: once an hour is enough. Writes keep "
            "priority: a refresh waits while a write is due or the request budget is tight.",
            3600,
        ): v.number_range(10, 86400),
        _opt(
            "averages",
            "Publish the weekly averages (overall and per weekday) with each attribute (one "
            "request a day).",
            False,
        ): v.boolean,
        _opt(
            "insights",
            "Publish Exist's insights of today and yesterday as a sensor (one request a day).",
            False,
        ): v.boolean,
        _opt(
            "correlations",
            "Publish this week's correlations as a sensor (one request a day, a page per 100): "
            "true for all, or only strong and/or confident ones (e.g. [strong, confident]).",
            False,
        ): v.correlation_filters,
        _opt(
            "topic_prefix",
            "Where the mirror publishes: <topic_prefix>/<attribute>/state (JSON, retained) and "
            "<topic_prefix>/insights/state, <topic_prefix>/correlations/state. No mapping may "
            "subscribe to these topics.",
            "exist",
        ): v.topic_name,
    }
)

ATTRIBUTE_TEMPLATE_SCHEMA = v.Section(
    {
        _req(
            "template", "A templated attribute (e.g. steps), acquired with manual=false."
        ): v.attribute_name,
    }
)

ATTRIBUTE_CUSTOM_SCHEMA = v.Section(
    {
        _req("name", "A custom attribute: acquired by name, created when missing."): (
            v.attribute_name
        ),
        _req("label", "Its label (Exist derives the name from it when creating)."): v.string,
        _req("group", "Its group: " + ", ".join(GROUPS) + "."): v.group,
        _req(
            "value_type",
            "Its value type: "
            + ", ".join(f"{k} {name}" for k, name in CREATABLE_VALUE_TYPES.items())
            + ".",
        ): v.value_type,
    }
)

EDGE_SCHEMA = v.Section(
    {
        _opt("from", "The state before (omit: any other state)."): v.state,
        _req("to", "The state after."): v.state,
    }
)


class _Edge:
    """A mapping's ``edge``: ``EDGE_SCHEMA``, with ``from`` and ``to`` different states."""

    kind = "mapping"
    inner = EDGE_SCHEMA

    def __call__(self, value: Any) -> dict[str, Any]:
        edge: dict[str, Any] = EDGE_SCHEMA(value)
        if "from" in edge and same_state(edge["from"], edge["to"]):
            raise vol.Invalid("from and to are the same state")
        return edge


# Every mapping key, for every mode: the reference, and the fallback for an unknown mode.
MAPPING_SCHEMA = v.Section(
    {
        _req(
            "topic", "MQTT topic filter (+ and # wildcards, each a whole level; # last)."
        ): v.topic_filter,
        _req("attribute", "The Exist attribute written."): v.attribute_name,
        _opt(
            "account",
            "Which of exist.accounts this mapping writes to (default: the first).",
        ): v.account_name,
        _opt(
            "mode",
            "increment: each counted message adds `amount`; update: the message carries the "
            "day's total (last one wins); counter: the value is a cumulative meter reading "
            "(e.g. energy Total), each reading adds its increase over the previous one (per "
            "topic) times `scale`: the first reading is only a baseline, a lower reading is a "
            "meter reset and adds itself (counted from zero), a retained reading adds only an "
            "increase; duration: the value is an on/off state, the whole minutes spent on (by "
            "the bridge's receive times, or event_time's) are added (seconds carried over, split "
            "at local midnight; a repeated on adds the minutes so far without restarting the "
            "clock; a retained message never adds time).",
            "increment",
        ): v.one_of(MODES),
        _opt(
            "json_path",
            "Where the value is in a JSON payload: contact, data.steps, readings[0].kg.",
        ): v.json_path,
        _opt(
            "value_template",
            "Jinja2 template giving the value (variables value, value_json, topic); "
            "exclusive with json_path.",
        ): v.template,
        _opt(
            "condition",
            "Jinja2 template; the message counts only if it renders true/1/yes/on.",
        ): v.template,
        _opt(
            "edge",
            "increment mode only: count only transitions of the value from `from` to `to` "
            "(per topic), not repeated states.",
        ): _Edge(),
        _opt(
            "amount",
            "increment mode only: the number added per counted message, or `value` to add the "
            "extracted value.",
            1,
        ): v.amount,
        _opt(
            "retained",
            "ignore: a retained message (a state snapshot) never counts, but seeds edge state; "
            "apply: update-mode mappings use it. (counter and duration modes have their own "
            "rules, see mode.)",
            "ignore",
        ): v.one_of(("ignore", "apply")),
        _opt(
            "scale",
            "counter mode only: multiplies each increase of the reading (0.001 turns Wh into "
            "kWh). On an integer attribute fractions are carried to the next reading, so the "
            "day's total stays whole and nothing is lost.",
            1,
        ): v.scale,
        _opt(
            "max_delay",
            "Seconds this mapping's changes may wait before they are sent to Exist; default: "
            "bridge.event_delay (increment, counter, duration) or bridge.total_delay (update).",
        ): v.number_range(1, 86400),
        _opt(
            "on_states",
            "duration mode only: the state(s) meaning on (a state or a list); any other value "
            "is off. Default: true/ON/on, 1, occupied, open, home, detected. (Not `on:`: YAML "
            "reads an unquoted on as true.)",
        ): v.states,
        _opt(
            "event_time",
            "Where the payload says when the event happened: a JSON path (last_seen, Time, "
            "params.ts) or a template. Epoch seconds, epoch milliseconds (numbers from 1e11 "
            "up), or ISO 8601 (without an offset: in the bridge's time zone). The message then "
            "counts on that local date (a message the broker held across midnight keeps its "
            "day), duration mode times its periods by it, and an edge, counter or duration "
            "message older than its topic's last trusted one is skipped. A missing, unreadable "
            "or untrusted time (see bridge.event_time_window) falls back to the receive time "
            "(never out of order, and never the reference later messages are ordered by).",
        ): v.event_time,
    }
)


# ----------------------------------------------------------------------------- per-mode mappings
# A mapping is checked by its mode's schema: MAPPING_SCHEMA with the keys other modes own
# rejected ("scale only applies to counter mode") and the values a mode can't take refused, so
# each such problem is an ordinary schema error at its key's path and line. A key for only some
# modes goes in MODE_ONLY (and its description says so); the reason shown, in WHY_NOT.

MODE_ONLY = {
    "edge": ("increment",),
    "amount": ("increment",),
    "scale": ("counter",),
    "on_states": ("duration",),
}
WHY_NOT = {
    ("amount", "update"): "in update mode the message carries the total",
    ("amount", "counter"): "counter mode adds the reading's increase, times scale",
    ("amount", "duration"): "duration mode adds the minutes spent on",
    ("retained", "increment"): "a retained message is a snapshot, not an event",
    ("retained", "counter"): "counter mode always compares a retained reading with the last one, "
    "and counts only an increase",
    ("retained", "duration"): "in duration mode a retained state never adds time: when it "
    "changed is unknown",
}


def _not_in_mode(key: str, mode: str) -> Callable[[Any], Any]:
    why = WHY_NOT.get((key, mode))
    message = f"{key} only applies to {' or '.join(MODE_ONLY[key])} mode"
    message += f" ({why})" if why else ""

    def reject(value: Any) -> Any:
        raise vol.Invalid(message)

    return reject


def _retained_in(mode: str, retained: Callable[[Any], str]) -> Callable[[Any], str]:
    """``retained`` for an incrementing mode: ``apply`` is update mode's only."""

    def check(value: Any) -> str:
        value = retained(value)
        if value == "apply":
            raise vol.Invalid(
                f"retained: apply only applies to update mode ({WHY_NOT['retained', mode]})"
            )
        return value

    return check


def _mode_schema(mode: str) -> v.Section:
    """MAPPING_SCHEMA as ``mode`` sees it."""
    keys: dict[Any, Any] = {}
    for marker, validator in MAPPING_SCHEMA.schema.items():
        key = marker.schema
        if mode not in MODE_ONLY.get(key, MODES):
            keys[vol.Optional(key)] = _not_in_mode(key, mode)  # no default: it isn't set
        elif key == "retained" and mode in INCREMENTING_MODES:
            keys[marker] = _retained_in(mode, validator)
        else:
            keys[marker] = validator
    return v.Section(keys)


MODE_SCHEMAS = {mode: _mode_schema(mode) for mode in MODES}
MAPPING_ITEM = v.KeyValueSchemas(
    "mode",
    MODE_SCHEMAS,
    fallback=MAPPING_SCHEMA,
    default="increment",
    normalise=lambda mode: mode.strip().lower() if isinstance(mode, str) else mode,
)


CONFIG_SCHEMA = v.Section(
    {
        _req("exist", "The Exist account and API."): EXIST_SCHEMA,
        _opt("mqtt", "The MQTT broker.", dict): MQTT_SCHEMA,
        _opt("bridge", "The bridge itself.", dict): BRIDGE_SCHEMA,
        _opt("http", "The optional HTTP endpoint (health, metrics, status page).", dict): (
            HTTP_SCHEMA
        ),
        _opt("read", "Mirror Exist's values, averages and insights into MQTT (off when absent)."): (
            READ_SCHEMA
        ),
        _opt("attributes", "Attributes to acquire (or create) at start.", list): v.ListOf(
            _AttributeItem(), what="attribute"
        ),
        _req("mappings", "MQTT topics and what their messages mean for Exist."): v.ListOf(
            MAPPING_ITEM, min_length=1, what="mapping"
        ),
    }
)


# ----------------------------------------------------------------------------- schema errors


def inner_schemas(validator: Any) -> list[vol.Schema]:
    """The mapping schema(s) a validator checks its value with (none for a plain value)."""
    if isinstance(validator, vol.Schema):
        return [validator]
    if isinstance(validator, _AttributeItem):
        return [ATTRIBUTE_TEMPLATE_SCHEMA, ATTRIBUTE_CUSTOM_SCHEMA]
    if isinstance(validator, v.KeyValueSchemas):
        return [validator.fallback]
    inner = getattr(validator, "inner", None)
    return [inner] if inner is not None else []


def _known_keys(path: tuple) -> list[str]:
    """The keys of the mapping(s) at ``path``, to suggest one for a typo."""
    schemas: list[Any] = [CONFIG_SCHEMA]
    for step in path:
        found: list[Any] = []
        for schema in schemas:
            if isinstance(step, int):
                if isinstance(schema, v.ListOf):
                    found.extend(inner_schemas(schema.item))
            elif isinstance(schema, vol.Schema) and isinstance(schema.schema, dict):
                for marker, validator in schema.schema.items():
                    if marker.schema == step:
                        found.extend(inner_schemas(validator) or [validator])
        schemas = found
    keys: list[str] = []
    for schema in schemas:
        if isinstance(schema, vol.Schema) and isinstance(schema.schema, dict):
            keys.extend(str(m.schema) for m in schema.schema)
    return keys


def schema_problems(err: vol.MultipleInvalid, doc: Document) -> list[Problem]:
    """The schema's errors as problems with their paths and lines; an unknown key with the key
    it may have meant (every message is the validators', see ``validators.Section``)."""
    problems = []
    for e in err.errors:
        path = tuple(step.schema if isinstance(step, vol.Marker) else step for step in e.path)
        message = _unknown_key_message(path) if isinstance(e, v.UnknownKey) else e.error_message
        problems.append(Problem(format_path(path), doc.line(path), message))
    return problems


def _unknown_key_message(path: tuple[Any, ...]) -> str:
    """Why the key at the end of ``path`` is unknown, and what was meant."""
    if isinstance(path[-1], bool):
        return (
            f"unknown key {str(path[-1]).lower()} (YAML reads an unquoted on/off/yes/no key "
            "as a boolean; for duration mode's on states write on_states)"
        )
    known = _known_keys(path[:-1])
    close = difflib.get_close_matches(str(path[-1]), known, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(known)}"
    return f"unknown key ({hint})"
