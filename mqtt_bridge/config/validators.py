"""The value validators: each takes a raw YAML value, returns it normalised or raises
``vol.Invalid`` with a one-line message; ``kind`` is the type shown in the reference.

``Section`` is a mapping of known keys: every message the user reads is one of ours, never
voluptuous' English (which the code would otherwise have to recognise, release after release).
"""

from __future__ import annotations

import contextlib
import difflib
import ipaddress
import math
import re
from collections.abc import Callable, Hashable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import voluptuous as vol

from ..exist.domain import ATTRIBUTE_NAME, CREATABLE_VALUE_TYPES, GROUPS, TEMPLATE_ONLY_TYPES
from ..expressions import (
    JsonPath,
    JsonPathError,
    TemplateCompileError,
    compile_template,
    is_template,
    normalize_state,
)
from .model import Secret, short


def kind(description: str) -> Callable[[Callable], Callable]:
    """Tag a validator with the human type shown by ``describe_schema``."""

    def tag(fn: Callable) -> Callable:
        fn.kind = description  # type: ignore[attr-defined]
        return fn

    return tag


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def int_range(lo: int, hi: int) -> Callable[[Any], int]:
    @kind(f"integer {lo}..{hi}")
    def check(value: Any) -> int:
        if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d{1,12}\s*", value):
            value = int(value)  # e.g. from !env
        if not isinstance(value, int) or isinstance(value, bool):
            raise vol.Invalid(f"expected an integer from {lo} to {hi}, got {short(value)}")
        if not lo <= value <= hi:
            raise vol.Invalid(f"must be from {lo} to {hi}, got {value}")
        return value

    return check


def number_range(lo: float, hi: float) -> Callable[[Any], float]:
    @kind(f"number {lo}..{hi}")
    def check(value: Any) -> float:
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = float(value)  # e.g. from !env
        if not is_number(value) or not math.isfinite(value):
            raise vol.Invalid(f"expected a number from {lo} to {hi}, got {short(value)}")
        if not lo <= value <= hi:
            raise vol.Invalid(f"must be from {lo} to {hi}, got {value}")
        return value

    return check


@kind("boolean")
def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "on", "1"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "no", "off", "0"):
        return False
    raise vol.Invalid(f"expected true or false, got {short(value)}")


@kind("string")
def string(value: Any) -> str:
    if is_number(value):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise vol.Invalid(f"expected a non-empty string, got {short(value)}")
    return value.strip()


@kind("secret string")
def secret(value: Any) -> Secret:
    # Never echo the value: this is where a password would end up in a log.
    if is_number(value):
        value = str(value)
    if not isinstance(value, str):
        raise vol.Invalid("expected a string (tip: `!env VAR_NAME` or the _file variant)")
    if not value.strip():
        raise vol.Invalid("is empty")
    return Secret(value.strip())


@kind("path")
def path(value: Any) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise vol.Invalid(f"expected a file path, got {short(value)}")
    return Path(value.strip()).expanduser()


_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)\Z")


def url_host_problem(text: str) -> str | None:
    """Why the http(s) URL ``text`` has no usable host (a doubled scheme, an empty or malformed
    host name, a bad port), or None when it has one."""
    parts = urlsplit(text)
    if parts.path.startswith("//") or "://" in parts.path:
        return "it has the scheme twice (http://http://...): write it once"
    try:
        port = parts.port
    except ValueError:
        return f"the port in {parts.netloc!r} is not a number from 0 to 65535"
    if parts.netloc.endswith(":") and port is None:
        return f"{parts.netloc!r} ends with ':' but no port follows"
    host = parts.hostname or ""
    if not host:
        return "it has no host name"
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    if len(host) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
        return f"{host!r} is not a valid host name"
    return None


_API_PATH = re.compile(r"/api/\d+/*$")


@kind("http(s) URL")
def url(value: Any) -> str:
    if isinstance(value, str):
        parts = urlsplit(value.strip())
        if parts.scheme in ("http", "https") and parts.netloc and not parts.query:
            problem = url_host_problem(value.strip())
            if problem:
                raise vol.Invalid(f"{short(value)} is not a usable URL: {problem}")
            if _API_PATH.search(parts.path):  # copied from the API docs' examples
                raise vol.Invalid(
                    f"{short(value)} ends in the API's path: give the server only, like "
                    "https://exist.io (the bridge adds /api/2 itself)"
                )
            return value.strip().rstrip("/")
    raise vol.Invalid(f"expected an http(s) URL like https://exist.io, got {short(value)}")


@kind("IANA time zone")
def timezone(value: Any) -> str:
    if isinstance(value, str) and value.strip():
        try:
            ZoneInfo(value.strip())
            return value.strip()
        except Exception:  # noqa: BLE001 - ZoneInfoNotFoundError, ValueError, OSError...
            pass
    raise vol.Invalid(f"unknown time zone {short(value)} (expected e.g. Europe/London)")


def one_of(options: tuple[str, ...], upper: bool = False) -> Callable[[Any], str]:
    @kind(" | ".join(options))
    def check(value: Any) -> str:
        if isinstance(value, str):
            text = value.strip().upper() if upper else value.strip().lower()
            if text in options:
                return text
        raise vol.Invalid(f"expected one of {', '.join(options)}, got {short(value)}")

    return check


@kind("attribute name ([a-z0-9_]+)")
def attribute_name(value: Any) -> str:
    if isinstance(value, str) and ATTRIBUTE_NAME.match(value):
        return value
    raise vol.Invalid(
        f"expected an Exist attribute name (lowercase letters, digits, _), got {short(value)}"
    )


ACCOUNT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}\Z")


@kind("account name ([a-z0-9_-], up to 32)")
def account_name(value: Any) -> str:
    """An ``exist.accounts[].name`` (also a folder name, a metrics label and a status line)."""
    if isinstance(value, str) and ACCOUNT_NAME.match(value):
        return value
    raise vol.Invalid(
        "expected an account name (up to 32 lowercase letters, digits, _ and -, starting with "
        f"a letter or digit), got {short(value)}"
    )


@kind("Exist group")
def group(value: Any) -> str:
    if isinstance(value, str) and value.strip().lower() in GROUPS:
        return value.strip().lower()
    hint = ""
    if isinstance(value, str):
        close = difflib.get_close_matches(value.lower(), GROUPS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise vol.Invalid(f"unknown group {short(value)}{hint}; one of: {', '.join(GROUPS)}")


@kind("value type 0..8 except 6")
def value_type(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        if value in TEMPLATE_ONLY_TYPES:
            raise vol.Invalid(f"value type {value} (minutes from midday) is reserved for templates")
        if value in CREATABLE_VALUE_TYPES:
            return value
    choices = ", ".join(f"{k} {v}" for k, v in CREATABLE_VALUE_TYPES.items())
    raise vol.Invalid(f"expected a value type ({choices}), got {short(value)}")


@kind("all, or a list of attribute names")
def attribute_selection(value: Any) -> tuple[str, ...] | str:
    """``read.attributes``: ``all``, or a list of attribute names (a single name is a list)."""
    if isinstance(value, str) and value.strip().lower() == "all":
        return "all"
    names = [value] if isinstance(value, str) else value
    if isinstance(names, list) and names:
        bad = [n for n in names if not (isinstance(n, str) and ATTRIBUTE_NAME.match(n))]
        if not bad:
            return tuple(dict.fromkeys(names))
        raise vol.Invalid(
            f"expected attribute names (lowercase letters, digits, _), got {short(bad[0])}"
        )
    raise vol.Invalid(f"expected all, or a list of attribute names, got {short(value)}")


CORRELATION_FILTERS = ("strong", "confident")


@kind("false, true, strong, confident or [strong, confident]")
def correlation_filters(value: Any) -> tuple[str, ...] | None:
    """``read.correlations``: off (false), all of the week's (true), or only the ``strong``
    and/or ``confident`` ones."""
    if value is False or value is None:
        return None
    if value is True:
        return ()
    items = [value] if isinstance(value, str) else value
    if isinstance(items, list) and items:
        chosen = [i.strip().lower() if isinstance(i, str) else i for i in items]
        if all(c in CORRELATION_FILTERS for c in chosen):
            return tuple(dict.fromkeys(chosen))
    raise vol.Invalid(
        f"expected false, true, strong, confident or [strong, confident], got {short(value)}"
    )


@kind("list of Exist groups")
def groups(value: Any) -> tuple[str, ...]:
    """A list of Exist group names (a single name is a list)."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise vol.Invalid(f"expected a list of Exist groups, got {short(value)}")
    return tuple(dict.fromkeys(group(item) for item in items))


def topic_problem(value: str, wildcards: bool) -> str | None:
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


@kind("MQTT topic filter")
def topic_filter(value: Any) -> str:
    if not isinstance(value, str):
        raise vol.Invalid(f"expected an MQTT topic filter, got {short(value)}")
    problem = topic_problem(value, wildcards=True)
    if problem:
        raise vol.Invalid(f"invalid topic filter {short(value)}: {problem}")
    return value


@kind("MQTT topic (no wildcards)")
def topic_name(value: Any) -> str:
    if isinstance(value, str):
        problem = topic_problem(value.strip().strip("/"), wildcards=False)
        if problem is None:
            return value.strip().strip("/")
        raise vol.Invalid(f"invalid topic {short(value)}: {problem}")
    raise vol.Invalid(f"expected an MQTT topic, got {short(value)}")


@kind("JSON path (data.steps, readings[0].kg)")
def json_path(value: Any) -> str:
    if not isinstance(value, str):
        raise vol.Invalid(f"expected a JSON path like data.steps, got {short(value)}")
    try:
        return JsonPath(value).text
    except JsonPathError as err:
        raise vol.Invalid(str(err)) from None


@kind("Jinja2 template")
def template(value: Any) -> str:
    if isinstance(value, dict):
        raise vol.Invalid('a template must be quoted in YAML: "{{ value_json.x }}"')
    if not isinstance(value, str) or not value.strip():
        raise vol.Invalid(f"expected a template string, got {short(value)}")
    try:
        compile_template(value)
    except TemplateCompileError as err:
        where = f" (template line {err.lineno})" if err.lineno and "\n" in value.strip() else ""
        raise vol.Invalid(f"template error{where}: {err.message}") from None
    return value


@kind("JSON path or Jinja2 template")
def event_time(value: Any) -> str:
    """A mapping's ``event_time``: a template when it holds ``{{``/``{%``, else a JSON path."""
    if isinstance(value, str) and is_template(value):
        return template(value)
    return json_path(value)


@kind("number | value")
def amount(value: Any) -> int | float | str:
    if isinstance(value, str) and value.strip().lower() == "value":
        return "value"
    if is_number(value) and math.isfinite(value) and value != 0:
        return value
    raise vol.Invalid(
        f"expected a non-zero number or the word value (add the extracted value), got "
        f"{short(value)}"
    )


@kind("positive number")
def scale(value: Any) -> int | float:
    if is_number(value) and math.isfinite(value) and value > 0:
        return value
    raise vol.Invalid(
        f"expected a positive number (e.g. 0.001 to turn Wh into kWh), got {short(value)}"
    )


@kind("state (true/false/ON/OFF, a number or text)")
def state(value: Any) -> Any:
    if value is None or isinstance(value, (bool, str)) or is_number(value):
        if is_number(value) and not math.isfinite(value):
            raise vol.Invalid("must be finite")
        return normalize_state(value)
    raise vol.Invalid(f"expected a single state value, got {short(value)}")


@kind("state or list of states")
def states(value: Any) -> tuple[Any, ...]:
    if not isinstance(value, list):
        return (state(value),)
    if not value:
        raise vol.Invalid("expected at least one state")
    out = []
    for index, item in enumerate(value):
        try:
            out.append(state(item))
        except vol.Invalid as err:
            err.prepend([index])
            raise
    return tuple(out)


MISSING_KEY = "required key is missing"
NOT_A_MAPPING = "expected a mapping (indented key: value lines)"


class UnknownKey(vol.Invalid):
    """A key its ``Section`` doesn't know; ``path`` ends with it (``schema.schema_problems``
    words it: a did-you-mean, or YAML's boolean keys)."""


def _unknown_key(value: Any) -> Any:
    raise UnknownKey("unknown key")


def required(key: str, description: str) -> vol.Required:
    """A required key whose absence reads ``MISSING_KEY``."""
    return vol.Required(key, description=description, msg=MISSING_KEY)


class Section(vol.Schema):
    """A mapping of known ``keys`` (voluptuous markers -> validators): a value that isn't a
    mapping is ``NOT_A_MAPPING``, a key none of them matches an ``UnknownKey``, a missing
    ``required`` key ``MISSING_KEY``. ``schema`` holds the keys alone (the reference, the
    did-you-mean hints and the tests read it); validation also has a catch-all for the rest."""

    kind = "mapping"

    def __init__(self, keys: dict[Any, Any]):
        super().__init__({**keys, vol.Extra: _unknown_key})
        self.schema = keys

    def __call__(self, data: Any) -> Any:
        if not isinstance(data, dict):
            raise vol.MultipleInvalid([vol.Invalid(NOT_A_MAPPING)])
        return super().__call__(data)


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


class KeyValueSchemas:
    """A mapping validated by the schema that its ``key``'s value picks (Home Assistant's
    ``cv.key_value_schemas``): ``schemas[normalise(value)]``, ``default`` when the key is
    absent. A mapping whose key has no schema (or that isn't a mapping) goes to ``fallback``,
    which must report that key's value (and still checks the other keys)."""

    kind = "mapping"

    def __init__(
        self,
        key: str,
        schemas: Mapping[Any, Callable[[Any], Any]],
        fallback: vol.Schema,
        default: str,
        normalise: Callable[[Any], Any] = lambda value: value,
    ):
        self.key = key
        self.schemas = schemas
        self.fallback = fallback
        self.default = default
        self.normalise = normalise

    def select(self, value: Any) -> Callable[[Any], Any]:
        """The schema for the mapping ``value``."""
        if not isinstance(value, dict):
            return self.fallback
        chosen = self.normalise(value.get(self.key, self.default))
        return (
            self.schemas.get(chosen, self.fallback)
            if isinstance(chosen, Hashable)
            else (self.fallback)
        )

    def __call__(self, value: Any) -> Any:
        return self.select(value)(value)
