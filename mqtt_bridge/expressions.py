"""Payload expressions: Home Assistant-style Jinja2 templates, JSON paths, and the small value rules
shared by the config checks and the mappings (truthiness, numbers, edge-state normalisation).

Pure: no I/O. Templates are compiled once (at config load) in a sandbox, render with the variables
``value`` (the payload text), ``value_json`` (the parsed payload; undefined when it isn't JSON) and
``topic``, treat a missing key as an error (not an empty string), and never raise while rendering:
``Template.render`` returns a ``RenderFailure`` instead.

Neutral ground: ``config`` (the validators, the schema) and ``pipeline`` (the mappings, event
times) both import it, and it imports neither.
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

__all__ = [
    "MAX_OUTPUT_CHARS",
    "NOT_JSON",
    "Payload",
    "JsonPath",
    "JsonPathError",
    "RenderFailure",
    "Template",
    "TemplateCompileError",
    "compile_template",
    "is_template",
    "is_truthy",
    "normalize_state",
    "parse_number",
    "same_state",
]

MAX_OUTPUT_CHARS = 10_000
"""A template's output is cut off (and the render fails) beyond this many characters."""

_MAX_EXPONENT = 1_000
_MISSING = object()
TRUTHY = frozenset({"true", "1", "yes", "on"})


# --------------------------------------------------------------------------------- templates


class TemplateCompileError(ValueError):
    """A template that does not compile. ``lineno`` is the line inside the template (1-based)."""

    def __init__(self, message: str, lineno: int | None = None):
        super().__init__(message)
        self.message = message
        self.lineno = lineno


@dataclass(frozen=True)
class RenderFailure:
    """Why a render failed: ``undefined`` is true when a missing variable or key was used."""

    detail: str
    undefined: bool = False


def _strict_number(kind: type, name: str):
    def convert(value: Any, default: Any = _MISSING) -> Any:
        try:
            if isinstance(value, str):
                number = parse_number(value)
                if number is None:
                    raise ValueError(value)
                return kind(number)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(value)
            return kind(value)
        except (ValueError, TypeError, OverflowError):
            if default is not _MISSING:
                return default
            raise ValueError(
                f"{name}() got {_short(repr(value), 60)}, which is not a number "
                f"(give a default: {name}(0))"
            ) from None

    convert.__name__ = name
    return convert


class _Environment(ImmutableSandboxedEnvironment):
    """The sandbox plus limits on the two operators that can blow up memory or time."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if isinstance(right, (int, float)) and abs(right) > _MAX_EXPONENT:
                raise SecurityError(f"exponent {right!r} is too large")
        elif operator == "*":
            for seq, times in ((left, right), (right, left)):
                if (
                    isinstance(seq, (str, list, tuple))
                    and isinstance(times, int)
                    and len(seq) * times > MAX_OUTPUT_CHARS
                ):
                    raise SecurityError("repetition result is too long")
        return super().call_binop(context, operator, left, right)


def _make_environment() -> _Environment:
    env = _Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)
    # Like Home Assistant since 2021.12: float/int fail on non-numbers unless given a default,
    # instead of Jinja's silent 0 (which would count garbage as a value).
    for name, kind in (("float", float), ("int", int)):
        strict = _strict_number(kind, name)
        env.filters[name] = strict
        env.globals[name] = strict
    return env


_ENV = _make_environment()


class Template:
    """A compiled template. Build with ``compile_template``."""

    def __init__(self, source: str):
        try:
            parsed = _ENV.parse(source)
            self._compiled = _ENV.from_string(parsed)
            # A plain dict instead of Jinja's ChainMap over the environment's globals (fixed at
            # import): every render copies them, and copying a ChainMap costs more than the render.
            self._compiled.globals = dict(self._compiled.globals)
        except TemplateSyntaxError as err:
            raise TemplateCompileError(err.message or str(err), err.lineno) from None
        except Exception as err:  # noqa: BLE001 - e.g. RecursionError on absurd nesting
            raise TemplateCompileError(f"{type(err).__name__}: {err}") from None
        self.source = source
        names = meta.find_undeclared_variables(parsed)
        unknown = sorted(names - {"value", "value_json", "topic"} - set(_ENV.globals))
        if unknown:
            raise TemplateCompileError(
                f"unknown variable {unknown[0]!r}; templates see value, value_json and topic"
            )
        self.uses_value_json = "value_json" in names

    def __repr__(self) -> str:
        return f"Template({_short(self.source, 80)!r})"

    def render(self, value: str, topic: str, value_json: Any = _MISSING) -> str | RenderFailure:
        """The rendered text (whitespace stripped), or a ``RenderFailure``; never raises.

        Leave ``value_json`` out when the payload is not JSON: the template then sees it as
        undefined (``value_json is defined`` is false; using it is a failure).
        """
        context: dict[str, Any] = {"value": value, "topic": topic}
        if value_json is not _MISSING:
            context["value_json"] = value_json
        parts: list[str] = []
        size = 0
        try:
            for chunk in self._compiled.generate(context):
                size += len(chunk)
                if size > MAX_OUTPUT_CHARS:
                    return RenderFailure(f"output longer than {MAX_OUTPUT_CHARS} characters")
                parts.append(chunk)
        except Exception as err:  # noqa: BLE001 - every failure is the payload's or template's
            undefined = isinstance(err, UndefinedError)
            return RenderFailure(_short(f"{type(err).__name__}: {err}"), undefined)
        return "".join(parts).strip()


@functools.lru_cache(maxsize=512)
def compile_template(source: str) -> Template:
    """Compile ``source`` once (cached); raises ``TemplateCompileError`` with the template line."""
    return Template(source)


def is_template(source: str) -> bool:
    """Whether a text is a template (``{{``/``{%``), else a JSON path (``event_time``)."""
    return "{{" in source or "{%" in source


# --------------------------------------------------------------------------------- JSON paths

NOT_JSON = object()  # ``Payload.json()`` when the payload isn't JSON


class Payload:
    """The payload text and, parsed at most once and only when asked for, its JSON."""

    def __init__(self, text: str):
        self.text = text
        self._json: Any = NOT_JSON
        self.json_error: str | None = None

    def json(self) -> Any:
        """The parsed JSON, or ``NOT_JSON`` (with ``json_error`` set) when it isn't JSON."""
        if self._json is NOT_JSON and self.json_error is None:
            try:
                self._json = json.loads(self.text)
            except RecursionError:
                self.json_error = "the JSON is nested too deeply"
            except ValueError as err:  # JSONDecodeError, and ints beyond int()'s digit limit
                self.json_error = f"not JSON: {err}"
        return self._json


class JsonPathError(ValueError):
    """A JSON path that doesn't parse."""


_SEGMENT = re.compile(r"([^.\[\]]+)?((?:\[-?\d+\])*)")
_INDEX = re.compile(r"\[(-?\d+)\]")


def _refuse_other_styles(text: str) -> None:
    """``$.contact`` (JSONPath) and ``value_json.contact`` (a template's variable) are the usual
    ways to write a path elsewhere; here the path starts at the payload's top: say the fix."""
    for prefix, style in (("$", "JSONPath syntax"), ("value_json", "template syntax")):
        if text == prefix or text.startswith((prefix + ".", prefix + "[")):
            rest = text[len(prefix) :].lstrip(".")
            fix = f"write json_path: {rest}" if rest else "leave json_path out (the whole payload)"
            raise JsonPathError(
                f"{text!r} is {style}; json_path is a plain dotted path from the top of the "
                f"payload: {fix}"
            )


class JsonPath:
    """A dotted path into parsed JSON, with ``[n]`` for list items: ``data.steps``,
    ``readings[0].kg``, ``[1]``. Keys are matched exactly; negative indexes count from the end."""

    def __init__(self, text: str):
        if not isinstance(text, str) or not text.strip():
            raise JsonPathError("empty JSON path")
        _refuse_other_styles(text.strip())
        steps: list[str | int] = []
        for i, segment in enumerate(text.strip().split(".")):
            match = _SEGMENT.fullmatch(segment)
            if not segment or match is None or (match.group(1) is None and not match.group(2)):
                raise JsonPathError(
                    f"can't read {text!r}: segment {i + 1} ({segment!r}) should be a key, "
                    "optionally followed by [n] indexes (e.g. readings[0].kg)"
                )
            if match.group(1) is None and i > 0:
                raise JsonPathError(f"can't read {text!r}: a '.' must be followed by a key")
            if match.group(1) is not None:
                steps.append(match.group(1))
            steps.extend(int(n) for n in _INDEX.findall(match.group(2)))
        self.text = text.strip()
        self.steps: tuple[str | int, ...] = tuple(steps)

    def __repr__(self) -> str:
        return f"JsonPath({self.text!r})"

    def get(self, data: Any) -> Any:
        """The value at this path; raises ``LookupError`` naming the first step that is missing."""
        current = data
        for depth, step in enumerate(self.steps):
            if isinstance(step, int):
                if not isinstance(current, list):
                    raise LookupError(f"{self._prefix(depth)} is not a list")
                if not -len(current) <= step < len(current):
                    raise LookupError(f"{self._prefix(depth)} has no item [{step}]")
            elif not isinstance(current, dict):
                raise LookupError(f"{self._prefix(depth)} is not an object")
            elif step not in current:
                raise LookupError(f"no key {_short(step, 60)!r} in {self._prefix(depth)}")
            current = current[step]
        return current

    def _prefix(self, depth: int) -> str:
        if depth == 0:
            return "the payload"
        text = ""
        for step in self.steps[:depth]:
            text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
        return text


# --------------------------------------------------------------------------------- values


def is_truthy(text: str) -> bool:
    """A condition's verdict: true/1/yes/on (any case, surrounding spaces ignored)."""
    return text.strip().lower() in TRUTHY


_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")


def parse_number(text: str) -> int | float | None:
    """The number ``text`` spells (``"8123"`` -> 8123, ``"72.4"`` -> 72.4), else None.

    Integral text gives an int, anything with a point or exponent a float. ``nan``/``inf`` and
    numbers too large for a float come back as non-finite floats for the caller to refuse.
    """
    text = text.strip()
    if _INTEGER.fullmatch(text):
        try:
            return int(text)
        except ValueError:  # more digits than int() allows: not a plausible value anyway
            return float("inf")
    if _NUMBER.fullmatch(text):
        return float(text)
    if text.lower().lstrip("+-") in ("nan", "inf", "infinity"):
        return float("nan")
    return None


def normalize_state(value: Any) -> Any:
    """A device state in one canonical form, so that ``true``, ``"ON"`` and ``"true"`` agree.

    JSON booleans stay booleans; the strings true/on and false/off (any case) become booleans;
    numeric text becomes a number; other text is stripped. Numbers and None are kept.
    """
    if isinstance(value, str):
        text = value.strip()
        lowered = text.lower()
        if lowered in ("true", "on"):
            return True
        if lowered in ("false", "off"):
            return False
        number = parse_number(text)
        if number is not None and (isinstance(number, int) or math.isfinite(number)):
            return number
        return text
    return value


def same_state(a: Any, b: Any) -> bool:
    """Equality of two normalised states where a boolean never equals a number (``True != 1``)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a is b
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - deeply nested values can't be compared
        return False


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
