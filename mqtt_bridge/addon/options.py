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
from dataclasses import dataclass, field, replace
from typing import Any

from ..config import ConfigError
from ..config.model import Problem, short
from ..config.validators import ACCOUNT_NAME


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
# The configuration's words for what, in the add-on, its options are (a mapping's `account:`)
IN_ADDON_WORDS = {
    "there is no exist.accounts: list the accounts there (name and token each)": (
        "the add-on lists no other accounts: add theirs (name and token) to the option "
        "`accounts` in its Configuration tab"
    ),
    " in exist.accounts (": " among the add-on's accounts (options `exist_account`, `accounts`; ",
}
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
    "exist_account": ("str", None),
    "watch_config": ("bool", None),
}

# The name of exist_token's account when `accounts` lists others: the installer's own account,
# from their point of view. Mappings without `account:` write to it whatever it is called, so
# most files never name it; the log and Home Assistant's per-account entities show it (a first
# name reads better there: exist_account).
DEFAULT_ACCOUNT = "me"
# an item of the `accounts` option: key -> (kind, argument), as OPTION_TYPES
ACCOUNT_TYPES: dict[str, tuple[str, Any]] = {
    "name": ("str", None),
    "token": ("str", None),
    "timezone": ("str", None),
    "requests_per_hour": ("int", (1, 300)),
}


@dataclass(frozen=True)
class AccountOption:
    """One Exist account the options give. ``option`` is the option that lists it
    (``accounts[0]``), None for ``exist_token``'s own; ``name`` is None when ``accounts`` is
    empty (the single-account configuration, no names)."""

    name: str | None
    token: str = field(repr=False)
    option: str | None = None
    timezone: str | None = None
    requests_per_hour: int | None = None


def _option_problem(name: str, value: Any, types: Mapping[str, tuple[str, Any]]) -> str | None:
    """What is wrong with option ``name``'s ``value`` after ``types`` (None: nothing; unset is
    fine)."""
    kind, arg = types[name]
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


def check_options(options: Mapping[str, Any]) -> list[AccountOption]:
    """Check every option's type and range; return the Exist accounts: ``exist_token``'s
    first (stripped), then those of ``accounts``. Raises ``SettingsError`` naming each option
    (and item) that is wrong."""
    problems = []
    token = options.get("exist_token")
    if token is not None and not isinstance(token, str):
        problems.append(
            f"add-on option `exist_token`: expected text (your Exist token), got a "
            f"{type(token).__name__}; paste the token in the add-on's Configuration tab"
        )
    for name in OPTION_TYPES:
        why = _option_problem(name, options.get(name), OPTION_TYPES)
        if why:
            problems.append(f"add-on option `{name}`: {why}; {CONFIGURATION_TAB}")
    others, account_problems = _accounts(options)
    problems += [f"add-on option {line}; {CONFIGURATION_TAB}" for line in account_problems]
    if problems:
        raise SettingsError(problems)
    if not isinstance(token, str) or not token.strip():
        raise AddonError(
            "exist_token is empty: paste your Exist token in the add-on's Configuration tab"
        )
    if not others:
        return [AccountOption(None, token.strip())]
    return [AccountOption(_own_name(options), token.strip()), *others]


def _own_name(options: Mapping[str, Any]) -> str:
    """The name of ``exist_token``'s account when ``accounts`` lists others: ``exist_account``,
    else ``DEFAULT_ACCOUNT``."""
    own = options.get("exist_account")
    return own.strip() if isinstance(own, str) and own.strip() else DEFAULT_ACCOUNT


def _accounts(options: Mapping[str, Any]) -> tuple[list[AccountOption], list[str]]:
    """The accounts the ``accounts`` option lists, and its problems (one line each, starting
    with the option's name: ``accounts[1].token``)."""
    listed = options.get("accounts")
    if listed is None or listed == []:
        return [], []
    if not isinstance(listed, list):
        return [], [f"`accounts`: expected a list of accounts (name, token), got {short(listed)}"]
    own = _own_name(options)
    problems = []
    if not ACCOUNT_NAME.match(own):
        problems.append(f"`exist_account`: {_bad_name(own)}")
    # what is taken already, and by what (for the messages)
    names = {own: f"your own account (option `exist_account`, default {DEFAULT_ACCOUNT!r})"}
    own_token = options.get("exist_token")
    tokens = {own_token.strip(): "`exist_token`"} if isinstance(own_token, str) else {}
    found = []
    for index, item in enumerate(listed):
        account, mine = _account(f"accounts[{index}]", item, names, tokens)
        problems += mine
        if account is not None:
            found.append(account)
    return found, problems


def _account(
    where: str, item: Any, names: dict[str, str], tokens: dict[str, str]
) -> tuple[AccountOption | None, list[str]]:
    """Item ``where`` of the ``accounts`` option, or its problems; its name and token are
    added to ``names`` and ``tokens`` (value: what took them)."""
    if not isinstance(item, dict):
        return None, [f"`{where}`: expected an account (name, token), got {short(item)}"]
    problems = [
        f"`{where}.{key}`: unknown key (an account has {', '.join(ACCOUNT_TYPES)})"
        for key in item
        if key not in ACCOUNT_TYPES
    ]
    for key in ACCOUNT_TYPES:
        why = _option_problem(key, item.get(key), ACCOUNT_TYPES)
        if why:
            problems.append(f"`{where}.{key}`: {why}")
    name, token, timezone = (_text(item.get(key)) for key in ("name", "token", "timezone"))
    if name is None or name == "":
        problems.append(f"`{where}.name`: empty: name the account (e.g. alex)")
    elif isinstance(name, str) and not ACCOUNT_NAME.match(name):
        problems.append(f"`{where}.name`: {_bad_name(name)}")
    elif isinstance(name, str) and name in names:
        problems.append(f"`{where}.name`: {name!r} is already the name of {names[name]}")
    whose = f"{name}'s" if isinstance(name, str) and name else "the account's"
    if token is None or token == "":
        problems.append(f"`{where}.token`: empty: paste {whose} Exist token")
    elif isinstance(token, str) and token in tokens:
        problems.append(
            f"`{where}.token`: the same token as {tokens[token]}: each account has its own "
            f"(paste {whose} Exist token)"
        )
    if isinstance(name, str) and name:
        names.setdefault(name, f"`{where}`")
    if isinstance(token, str) and token:
        tokens.setdefault(token, f"`{where}.token`")
    if problems or not isinstance(name, str) or not isinstance(token, str):
        return None, problems
    hourly = item.get("requests_per_hour")
    zone = timezone if isinstance(timezone, str) and timezone else None
    return AccountOption(name, token, option=where, timezone=zone, requests_per_hour=hourly), []


def _text(value: Any) -> Any:
    """``value`` stripped if it is text (anything else as it is)."""
    return value.strip() if isinstance(value, str) else value


def _bad_name(name: str) -> str:
    """Why ``name`` is not an account name."""
    return (
        f"{short(name)} is not an account name: lower-case letters, digits, '-' and '_', "
        "starting with a letter or digit, at most 32"
    )


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
            mine.append(replace(problem, message=_in_addon_words(problem.message)))
        else:
            theirs.append(f"{origin}: {problem.message}; {CONFIGURATION_TAB}")
    file_error = ConfigError(mine, err.source) if mine else None
    if not theirs:
        return file_error or err
    return SettingsError(list(dict.fromkeys(theirs)), file_error)


def _in_addon_words(message: str) -> str:
    """``message`` about the user's file, its words for the add-on's options replaced."""
    for words, in_addon in IN_ADDON_WORDS.items():
        message = message.replace(words, in_addon)
    return message


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
