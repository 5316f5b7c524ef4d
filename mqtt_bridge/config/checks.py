"""Checks across keys and items, which no one key's schema can make. They run on the raw data,
so they report even when other keys are invalid.

Per-key rules (including "this key only applies to that mode") belong in ``schema.py``; what
must hold between keys, between items, or on disk belongs here. A file that must exist when the
configuration is checked: add its key path to ``FILES_THAT_MUST_EXIST``; another rule on a
section: add it to that section's ``_check_<section>``.
"""

from __future__ import annotations

import difflib
import itertools
import os
import stat
from pathlib import Path
from typing import Any

from ..exist.domain import (
    INTEGER_TYPES,
    NOT_INCREMENTABLE,
    TEMPLATES,
    VALUE_TYPES,
    name_from_label,
)
from ..exist.errors import CredentialsError
from ..exist.jsonfile import read_json
from ..exist.tokens import TokenSet
from ..tls import TlsFileError, tls_context
from .model import DURATION_TYPES, INCREMENTING_MODES, MODES, Problem, short
from .source import SECRET_FILES, Document, format_path, resolve
from .validators import ACCOUNT_NAME, is_number

# Files that must exist now, as key paths (the token file may not: `exist-bridge authorize`
# writes it).
FILES_THAT_MUST_EXIST = [(s, f"{k}_file") for s, k in sorted(SECRET_FILES)] + [
    ("mqtt", "tls", k) for k in ("ca_certs", "certfile", "keyfile")
]


class Findings:
    """Problems and warnings, each at a key path (its line looked up in the document)."""

    def __init__(self, doc: Document):
        self.doc = doc
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []

    def problem(self, path: tuple, message: str) -> None:
        self.problems.append(Problem(format_path(path), self.doc.line(path), message))

    def warning(self, path: tuple, message: str) -> None:
        self.warnings.append(Problem(format_path(path), self.doc.line(path), message))

    def check_error(self, path: tuple, message: str) -> None:
        """An error for ``exist-bridge check``, a warning for ``run`` (kept with the warnings)."""
        self.warnings.append(
            Problem(format_path(path), self.doc.line(path), message, check_error=True)
        )


def _get(item: Any, key: str | int, default: Any = None) -> Any:
    """``item[key]`` for a dict's key or a list's index; ``default`` when there is none."""
    if isinstance(item, list) and isinstance(key, int):
        return item[key] if 0 <= key < len(item) else default
    return item.get(key, default) if isinstance(item, dict) else default


def _list(value: Any) -> list:
    """``value`` if it is a list, else an empty one (the schema reports what it is)."""
    return value if isinstance(value, list) else []


def _section(data: dict, name: str) -> dict:
    block = data.get(name)
    return block if isinstance(block, dict) else {}


def cross_checks(
    data: dict, doc: Document, base_dir: Path | None
) -> tuple[list[Problem], list[Problem]]:
    """Every cross-key check on the raw ``data``. Returns (problems, warnings)."""
    found = Findings(doc)
    _check_exist(data.get("exist"), found, base_dir)
    _check_mqtt(_section(data, "mqtt"), found)
    _check_bridge(_section(data, "bridge"), found)
    _check_secret_files(data, found)
    _check_files(data, base_dir, found)
    declared = _check_attributes(data.get("attributes"), found)
    default = (account_names(data) or [""])[0]  # whose the mappings without account are
    _check_mappings(data.get("mappings"), declared, found, default)
    _check_read(data.get("read", False), data.get("mappings"), found)
    _check_account_names(data, found)
    _check_yaml_booleans(doc, found)
    return found.problems, found.warnings


def _check_yaml_booleans(doc: Document, found: Findings) -> None:
    """An unquoted on/off/yes/no among a mapping's states (``on_states: [on, off]``,
    ``edge: {to: off}``) is a boolean to YAML, not the text a device sends."""
    for path, text in doc.yaml_booleans:
        if not path or path[0] != "mappings":
            continue
        value = "true" if text.lower() in ("on", "yes", "y") else "false"
        if text.lower() in ("on", "off"):  # states compare on/off and true/false alike
            effect = f"it still matches a device's {text!r}, but quote it to say so"
        else:
            effect = f"a device's text {text!r} never equals it: quote it"
        found.warning(
            path, f'YAML reads the unquoted {text} as the boolean {value}; {effect}: "{text}"'
        )


def file_checks(
    data: dict, doc: Document, base_dir: Path | None
) -> tuple[list[Problem], list[Problem]]:
    """Open the files the bridge needs to run (the token file, the TLS files) and prove they can
    be used (``exist-bridge check`` and ``run``). A missing TLS file is already a problem of
    ``cross_checks``; a missing token file is one only here (``exist-bridge authorize`` may write
    it after the configuration). Returns (problems, warnings)."""
    found = Findings(doc)

    def file_at(*where: Any) -> Path | None:
        value: Any = data
        for step in where:
            value = _get(value, step)
        if isinstance(value, str) and value.strip():
            return resolve(Path(value.strip()).expanduser(), base_dir)
        return None

    for here in _token_places(data):
        token_file = file_at(*here, "token_file")
        if token_file is not None:
            problem, lax = _token_file_problem(token_file)
            if problem:
                found.problem(here + ("token_file",), problem)
            if lax:
                found.warning(here + ("token_file",), lax)
    if isinstance(_section(data, "mqtt").get("tls"), dict):
        files = {k: file_at("mqtt", "tls", k) for k in ("ca_certs", "certfile", "keyfile")}
        # the CA and the client certificate each on their own, so both are reported
        ca, client = {"ca_certs": files["ca_certs"]}, dict(files, ca_certs=None)
        for group in (ca, client) if files["certfile"] is not None else (ca,):
            if any(f is not None and not f.is_file() for f in group.values()):
                continue  # a missing file: "no file ..." already
            try:
                tls_context(**group)
            except TlsFileError as err:
                found.problem(("mqtt", "tls", err.key), f"{err.path}: {err.reason}")
    return found.problems, found.warnings


def _token_places(data: dict) -> list[tuple]:
    """Where the tokens are: ``exist``, or each of ``exist.accounts``."""
    accounts = _section(data, "exist").get("accounts")
    if isinstance(accounts, list):
        return [("exist", "accounts", i) for i in range(len(accounts))]
    return [("exist",)]


def _token_file_problem(path: Path) -> tuple[str | None, str | None]:
    """(why the token file can't be used, why its permissions are too open), each None if fine."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return f"no file {path}: write it with `exist-bridge authorize --token-file ...`", None
    except OSError as err:
        return f"can't read {path}: {err.strerror}", None
    if not stat.S_ISREG(info.st_mode):
        return f"{path} is not a file", None
    mode = stat.S_IMODE(info.st_mode)
    lax = None
    if mode & 0o077:
        lax = (
            f"{path} has group/other permissions (mode {mode:04o}) and holds your Exist tokens: "
            f"chmod 600 {path}"
        )
    try:
        TokenSet.from_json(read_json(path))
    except ValueError:
        return f"{path} is not valid JSON, so not a token file (see `exist-bridge authorize`)", lax
    except OSError as err:
        return f"can't read {path}: {err.strerror}", lax
    except CredentialsError as err:
        return f"{path}: {err}", lax
    return None, lax


def _check_exist(exist: Any, found: Findings, base_dir: Path | None = None) -> None:
    if not isinstance(exist, dict):
        return  # missing or not a mapping: the schema says so
    has_secret = "client_secret" in exist or "client_secret_file" in exist
    if has_secret and "client_id" not in exist:
        found.problem(("exist", "client_id"), "client_secret is given, so client_id is needed")
    accounts = exist.get("accounts")
    if not isinstance(accounts, list):
        if "accounts" not in exist:  # else not a list: the schema says so (no token asked)
            _check_token(exist, ("exist",), has_secret, found)
        return
    for key in ("token", "token_file"):
        if key in exist:
            found.problem(
                ("exist", key),
                f"with exist.accounts each account has its own token: move {key} to the "
                "account it belongs to (exist.accounts[N]." + key + ")",
            )
    names: dict[str, int] = {}
    tokens: dict[tuple[str, str], int] = {}
    for index, account in enumerate(accounts):
        if not isinstance(account, dict):
            continue
        _check_token(account, ("exist", "accounts", index), has_secret, found)
        _check_token_shared(account, index, tokens, found, base_dir)
        name = account.get("name")
        if isinstance(name, str) and name in names:
            found.problem(
                ("exist", "accounts", index, "name"),
                f"account {name!r} is already exist.accounts[{names[name]}]: each name once",
            )
        elif isinstance(name, str):
            names[name] = index


def _check_token_shared(
    account: dict,
    index: int,
    tokens: dict[tuple[str, str], int],
    found: Findings,
    base_dir: Path | None = None,
) -> None:
    """One token, one account: a token (or token file) another account has is a problem
    (``tokens``: those seen so far, with the index of the account that has them). A token file
    is the file, however its path is spelt (``bob.json``, ``./bob.json``, a link to it)."""
    for key in ("token", "token_file"):
        value = account.get(key)
        if isinstance(value, str) and value.strip():
            same = _same_file(value.strip(), base_dir) if key == "token_file" else value.strip()
            first = tokens.setdefault((key, same), index)
            if first != index:
                found.problem(
                    ("exist", "accounts", index, key),
                    f"the same {key} as exist.accounts[{first}]: each account needs its own "
                    "(Exist counts requests per token, and both would write to one account)",
                )


def _same_file(path: str, base_dir: Path | None) -> str:
    """``path`` (relative to ``base_dir``) as the file it names: links and ``..`` resolved."""
    try:
        return os.path.realpath(resolve(Path(path).expanduser(), base_dir))
    except (RuntimeError, OSError, ValueError):  # ~nobody, a NUL: the schema says so
        return path


def _check_token(block: dict, here: tuple, has_secret: bool, found: Findings) -> None:
    """One account's token: ``token`` or ``token_file``, and what refreshing the file needs."""
    if "token" in block and "token_file" in block:
        found.problem(here + ("token_file",), "give token or token_file, not both")
    elif "token" not in block and "token_file" not in block:
        found.problem(
            here + ("token",),
            "required: token (a personal token, e.g. !env EXIST_TOKEN) or token_file (from "
            "`exist-bridge authorize`)",
        )
    if "token_file" in block and not has_secret:
        found.warning(
            here + ("token_file",),
            "without client_id and client_secret the OAuth2 token can't be refreshed when it "
            "expires",
        )


def account_names(data: dict) -> list[str] | None:
    """The names in ``exist.accounts`` (None without the key: the single-account form)."""
    accounts = _section(data, "exist").get("accounts")
    if not isinstance(accounts, list):
        return None
    return [a["name"] for a in accounts if isinstance(a, dict) and isinstance(a.get("name"), str)]


def _check_account_names(data: dict, found: Findings) -> None:
    """Every ``account`` a mapping or ``read`` names is one of ``exist.accounts``."""
    names = account_names(data)
    if names is None and "accounts" in _section(data, "exist"):
        return  # exist.accounts is there but not a list: the schema says so
    where: list[tuple] = [
        ("mappings", i)
        for i, item in enumerate(_list(data.get("mappings")))
        if isinstance(item, dict) and "account" in item
    ]
    if isinstance(data.get("read"), dict) and "account" in data["read"]:
        where.append(("read",))
    for here in where:
        block: Any = data
        for step in here:
            block = block[step]
        name = block["account"]
        if names is None:
            found.problem(
                here + ("account",),
                f"account {short(name)} is named, but there is no exist.accounts: list the "
                "accounts there (name and token each), or leave account out",
            )
        elif isinstance(name, str) and names and name not in names:
            known = [n for n in dict.fromkeys(names) if ACCOUNT_NAME.match(n)]
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = (
                f"did you mean {close[0]!r}?"
                if close
                else "known: " + ", ".join(known)
                if known
                else "none of its names is valid yet"
            )
            found.problem(here + ("account",), f"no account {name!r} in exist.accounts ({hint})")


def _check_mqtt(mqtt: dict, found: Findings) -> None:
    if ("password" in mqtt or "password_file" in mqtt) and "username" not in mqtt:
        found.problem(("mqtt", "username"), "a password is given, so username is needed")
    tls = mqtt.get("tls")
    if isinstance(tls, dict) and "keyfile" in tls and "certfile" not in tls:
        found.problem(("mqtt", "tls", "certfile"), "keyfile is given, so certfile is needed")


def _check_bridge(bridge: dict, found: Findings) -> None:
    if "flush_interval" not in bridge:
        return
    new = [k for k in ("event_delay", "total_delay") if k not in bridge]
    taken = (
        f"taken as {' and '.join(new)} here ({bridge['flush_interval']} s)"
        if new
        else "ignored here (event_delay and total_delay are both given)"
    )
    found.warning(
        ("bridge", "flush_interval"),
        f"flush_interval is deprecated and {taken}: the bridge now sends by deadline. Use "
        "bridge.event_delay (events; default 300 s) and bridge.total_delay (totals and "
        "readings; default 3600 s), or mappings[].max_delay, or remove it for the defaults",
    )


def _check_secret_files(data: dict, found: Findings) -> None:
    for section, key in SECRET_FILES:
        block = _section(data, section)
        if key in block and f"{key}_file" in block:
            found.problem((section, f"{key}_file"), f"give {key} or {key}_file, not both")


def _check_files(data: dict, base_dir: Path | None, found: Findings) -> None:
    for where in FILES_THAT_MUST_EXIST:
        value: Any = data
        for step in where:
            value = _get(value, step)
        if isinstance(value, str) and value.strip():
            path = resolve(Path(value.strip()).expanduser(), base_dir)
            if not path.is_file():
                found.problem(where, f"no file {path}")


def _check_attributes(attributes: Any, found: Findings) -> dict[str, Any]:
    """No attribute twice; a custom one's label should give its name. Returns the declared
    attributes by name (the raw items)."""
    declared: dict[str, tuple[int, Any]] = {}
    for index, item in enumerate(attributes if isinstance(attributes, list) else []):
        key = "template" if "template" in (item if isinstance(item, dict) else {}) else "name"
        name = _get(item, key)
        if not isinstance(name, str):
            continue
        if name in declared:
            found.problem(
                ("attributes", index, key),
                f"attribute {name!r} is already listed at attributes[{declared[name][0]}]",
            )
            continue
        declared[name] = (index, item)
        label = _get(item, "label")
        if key == "name" and isinstance(label, str) and label.strip():
            derived = name_from_label(label)
            if derived != name:
                found.warning(
                    ("attributes", index, "label"),
                    f"Exist names a new attribute after its label ({derived!r}), not {name!r}: "
                    f"if {name!r} doesn't exist yet, creating it gives {derived!r}",
                )
    return {name: item for name, (_, item) in declared.items()}


def _mode_of(item: Any) -> str | None:
    mode = _get(item, "mode", "increment")
    return mode.strip().lower() if isinstance(mode, str) and mode.strip().lower() in MODES else None


def _check_mappings(
    mappings: Any, declared: dict[str, Any], found: Findings, default: str = ""
) -> None:
    """Each attribute is fed either updates or increments, in a mode its value type takes;
    one that isn't listed under attributes gets a warning."""
    first_mode: dict[tuple[str, str], tuple[int, str]] = {}
    for index, item in enumerate(mappings if isinstance(mappings, list) else []):
        if not isinstance(item, dict):
            continue
        here = ("mappings", index)
        if "json_path" in item and "value_template" in item:
            found.problem(here + ("value_template",), "json_path and value_template are exclusive")
        mode = _mode_of(item)
        attribute = item.get("attribute")
        if not isinstance(attribute, str) or mode is None:
            continue
        mode_path = here + ("mode",) if "mode" in item else here + ("attribute",)
        key = (str(item.get("account", default)), attribute)  # two accounts' are two
        if key in first_mode and (first_mode[key][1] == "update") != (mode == "update"):
            other, other_mode = first_mode[key]
            found.problem(
                mode_path,
                f"attribute {attribute!r} is fed in {other_mode} mode by mappings[{other}] and in "
                f"{mode} mode here; one attribute takes either updates or increments",
            )
        if attribute in declared:
            _check_value_type(item, here, mode, mode_path, declared[attribute], found)
        elif attribute not in TEMPLATES:
            found.check_error(here + ("attribute",), unknown_attribute(attribute, declared))
        elif key not in first_mode:
            found.warning(
                here + ("attribute",),
                f"{attribute!r} is not listed under attributes: the bridge won't acquire it, so "
                "it must already belong to this client",
            )
        first_mode.setdefault(key, (index, mode))


def filters_overlap(first: str, second: str) -> bool:
    """Whether some topic matches both MQTT topic filters (``+`` one level, ``#`` the rest,
    the parent level included)."""
    for x, y in itertools.zip_longest(first.split("/"), second.split("/")):
        if x == "#" or y == "#":
            return True
        if x is None or y is None or (x != y and "+" not in (x, y)):
            return False
    return True


def _check_read(read: Any, mappings: Any, found: Findings) -> None:
    """``read`` names what to mirror, and no mapping consumes what the mirror publishes (it
    would write Exist's values back to Exist: a loop)."""
    if read is None:
        read = {}
    if not isinstance(read, dict) or read.get("enabled") is False:
        return
    if not read.get("attributes") and not read.get("groups"):
        found.problem(("read",), "read needs attributes (a list of names, or all) or groups")
    prefix = read.get("topic_prefix", "exist")
    if not isinstance(prefix, str) or not prefix.strip("/"):
        return
    mirrored = prefix.strip().strip("/") + "/#"
    for index, item in enumerate(mappings if isinstance(mappings, list) else []):
        topic = _get(item, "topic")
        if isinstance(topic, str) and topic and filters_overlap(topic, mirrored):
            found.problem(
                ("mappings", index, "topic"),
                f"{topic!r} would consume the mirror's own topics ({mirrored}, read.topic_prefix)"
                ": Exist's values would be written back to Exist; subscribe to narrower topics "
                "or change read.topic_prefix",
            )


def unknown_attribute(attribute: str, declared: dict[str, Any]) -> str:
    """Why a mapping's ``attribute`` that is neither declared nor an Exist template is refused,
    with the closest declared or template names (a typo is the usual cause)."""
    known = list(dict.fromkeys([*declared, *TEMPLATES]))
    close = difflib.get_close_matches(attribute, known, n=3, cutoff=0.75)
    hint = (
        "did you mean " + " or ".join(repr(c) for c in close) + "?"
        if close
        else "declare it under attributes (name, label, group, value_type) or use the name of "
        "an Exist template (e.g. coffees, steps)"
    )
    return f"{attribute!r} is neither listed under attributes nor an Exist template; {hint}"


def _check_value_type(
    item: dict, here: tuple, mode: str, mode_path: tuple, spec: Any, found: Findings
) -> None:
    """What a mapping in ``mode`` may do with the custom attribute ``spec`` (a raw item)."""
    value_type = _get(spec, "value_type")
    if "template" in spec or not isinstance(value_type, int):
        return
    attribute = item["attribute"]
    described = f"value type {value_type} ({VALUE_TYPES.get(value_type, '?')})"
    if mode in INCREMENTING_MODES and value_type in NOT_INCREMENTABLE:
        found.problem(
            mode_path,
            f"{attribute!r} has {described}, which Exist can't increment; use mode: update",
        )
    elif mode == "duration" and value_type not in DURATION_TYPES:
        found.problem(
            mode_path,
            f"{attribute!r} has {described}; duration mode adds minutes: give it value type 3 "
            "(duration), or 0 or 1",
        )
    amount = item.get("amount", 1)
    whole = not is_number(amount) or isinstance(amount, int)
    if mode == "increment" and value_type in INTEGER_TYPES and not whole:
        found.problem(
            here + ("amount",),
            f"{attribute!r} holds integers (value type {value_type}); amount must be a whole "
            "number",
        )
