"""Checking what the add-on is given: its options (``/data/options.json``), the Supervisor's MQTT
service answer, and telling the configuration's problems that come from the options apart from
those in the user's mappings file.

The Supervisor checks the options against ``config.yaml``'s schema when they are saved in the
UI, but ``str?`` lets any text through (a time zone) and an options file written by hand or by
an older schema is not checked at all: every value is checked again here, with a one-line
message naming the option.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ..config import ConfigError
from ..config.model import Problem, short


class AddonError(Exception):
    """The add-on can't start: a one-line reason naming the option, file or service."""


class SettingsError(AddonError):
    """Problems in the add-on's options (``options``: one line each), and maybe also in the
    mappings file (``file``, with that file's own line numbers)."""

    def __init__(self, options: list[str], file: ConfigError | None = None):
        self.options = list(options)
        self.file = file
        super().__init__("; ".join(self.options))


GENERATED_SECTIONS = ("exist", "mqtt", "bridge", "http")  # what the add-on writes, never the file
CONFIGURATION_TAB = "change it in the add-on's Configuration tab"

# option -> (kind, argument) after config.yaml's schema: ("str", None), ("bool", None),
# ("int", (low, high)), ("list", choices). exist_token is checked by ``token``.
OPTION_TYPES: dict[str, tuple[str, Any]] = {
    "timezone": ("str", None),
    "log_level": ("list", ("debug", "info", "warning", "error")),
    "mappings_file": ("str", None),
    "event_delay": ("int", (1, 86400)),
    "total_delay": ("int", (1, 86400)),
    "flush_interval": ("int", (1, 86400)),  # deprecated: the two delays (issue 14)
    "requests_per_hour": ("int", (1, 300)),
    "mqtt_discovery": ("bool", None),
    "mqtt_host": ("str", None),
    "mqtt_port": ("int", (1, 65535)),
    "mqtt_username": ("str", None),
    "mqtt_password": ("str", None),
    "mqtt_tls": ("bool", None),
    "mqtt_client_id": ("str", None),
    "mqtt_topic_prefix": ("str", None),
    "accept_fresh_outbox": ("bool", None),
}


def _option_problem(name: str, value: Any) -> str | None:
    """What is wrong with option ``name``'s ``value`` (None: nothing; unset is fine)."""
    kind, arg = OPTION_TYPES[name]
    if value is None:
        return None
    if kind == "str" and not isinstance(value, str):
        return f"expected text, got {short(value)}"
    if kind == "bool" and not isinstance(value, bool):
        return f"expected true or false, got {short(value)}"
    if kind == "list" and (not isinstance(value, str) or value.lower() not in arg):
        return f"expected one of {', '.join(arg)}, got {short(value)}"
    if kind == "int":
        low, high = arg
        ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
        if not ok:
            what = "a port number" if name == "mqtt_port" else "a whole number"
            return f"expected {what} from {low} to {high}, got {short(value)}"
    return None


def check_options(options: Mapping[str, Any]) -> str:
    """Check every option's type and range; return the Exist token (stripped). Raises
    ``SettingsError`` naming each option that is wrong."""
    problems = []
    token = options.get("exist_token")
    if token is not None and not isinstance(token, str):
        problems.append(
            f"add-on option `exist_token`: expected text (your Exist token), got a "
            f"{type(token).__name__}; paste the token in the add-on's Configuration tab"
        )
    for name in OPTION_TYPES:
        why = _option_problem(name, options.get(name))
        if why:
            problems.append(f"add-on option `{name}`: {why}; {CONFIGURATION_TAB}")
    if problems:
        raise SettingsError(problems)
    if not isinstance(token, str) or not token.strip():
        raise AddonError(
            "exist_token is empty: paste your Exist token in the add-on's Configuration tab"
        )
    return token.strip()


def service_port(value: Any) -> int | None:
    """``value`` as a TCP port (an int, or a string of digits), or None if it isn't one."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535:
        return value
    return None


def check_service(data: Any, url: str) -> tuple[str, int]:
    """The broker's host and port from the Supervisor's MQTT service ``data``; raises
    ``AddonError`` (one line naming ``url`` and the field) if they can't be used."""
    if not isinstance(data, dict):
        raise AddonError(f"unexpected answer from {url}: no data object ({short(data)})")
    host = data.get("host")
    if not isinstance(host, str) or not host.strip():
        raise AddonError(f"unexpected answer from {url}: host {short(host)} is not a host name")
    port = service_port(data.get("port"))
    if port is None:
        raise AddonError(
            f"unexpected answer from {url}: port {short(data.get('port'))} is not a port "
            "number (1 to 65535)"
        )
    for key in ("username", "password"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise AddonError(f"unexpected answer from {url}: {key} is not text")
    return host.strip(), port


def split_problems(err: ConfigError, user_lines: int, origins: Mapping[str, str]) -> Exception:
    """The error to raise for ``err``, found in the user's file (its first ``user_lines``
    lines) with the add-on's generated section appended: a ``ConfigError`` with the file's own
    problems when the options are fine, else a ``SettingsError`` naming each option (from
    ``origins``: config path such as ``exist.timezone`` -> what set it), with the file's
    problems in ``file``."""
    mine: list[Problem] = []
    theirs: list[str] = []
    for problem in err.problems:
        origin = _origin(problem, user_lines, origins)
        if origin is None:
            if problem.line is not None and problem.line > user_lines:  # e.g. a missing key
                problem = replace(problem, line=None)
            mine.append(problem)
        else:
            theirs.append(f"{origin}: {problem.message}; {CONFIGURATION_TAB}")
    file_error = ConfigError(mine, err.source) if mine else None
    if not theirs:
        return file_error or err
    return SettingsError(list(dict.fromkeys(theirs)), file_error)


def _origin(problem: Problem, user_lines: int, origins: Mapping[str, str]) -> str | None:
    """What set the value ``problem`` is about, if not the user's file (None)."""
    in_generated = problem.line is not None and problem.line > user_lines
    if problem.line is None or in_generated:
        for path in sorted(origins, key=len, reverse=True):
            if problem.path == path or problem.path.startswith((path + ".", path + "[")):
                return origins[path]
    section = problem.path.split(".", 1)[0].split("[", 1)[0]
    if in_generated and section in GENERATED_SECTIONS:
        return f"the add-on's setting `{problem.path}`"
    return None
