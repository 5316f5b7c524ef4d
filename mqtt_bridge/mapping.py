"""What one MQTT message means for Exist, per mapping: an ``Event`` (add to, or set, the day's value
of an attribute), a skip (the message doesn't count), or a ``Rejected`` (bad input).

Pure and total: no I/O, and ``Mapping.evaluate`` never raises, whatever the payload. The caller
keeps the edge state per (mapping, topic) and passes it back in (``Evaluation.new_state``).

The order of evaluation for one message:
1. a retained message on a mapping without edge and with ``retained: ignore`` is skipped
   ("retained snapshot") without looking further; then the size (``too_large``);
2. UTF-8 (``not_utf8``); the JSON is parsed only if json_path or a template's value_json needs it;
3. ``condition``: false -> skipped "condition false"; a missing key/variable -> skipped
   "condition undefined" (a device's other messages often lack the key); other errors reject;
4. the value: json_path (``not_json``, ``path_missing``), value_template (``template_error``,
   ``not_json``) or the payload text;
5. edge: the normalised value becomes the new state; it counts only on a ``from`` -> ``to``
   transition with a known previous state and not from a retained message;
6. the event: increment adds ``amount`` (or the value itself: ``not_a_number``, ``not_finite``);
   update sets the value (a finite number, or text).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from paho.mqtt.client import topic_matches_sub

from .templating import (
    JsonPath,
    RenderFailure,
    compile_template,
    is_truthy,
    normalize_state,
    parse_number,
    same_state,
)

if TYPE_CHECKING:
    from .config import AttributeSpec, BridgeConfig, MappingSpec

__all__ = ["Evaluation", "Event", "Mapping", "Rejected", "build_mappings", "route"]

DETAIL_CHARS = 200
STRING_TYPE = 2
NO_VALUE_STATES = frozenset({"unavailable", "unknown", "none"})
INTEGER_TYPES = frozenset({0, 3, 4, 6, 7, 8})
_UNSET = object()


@dataclass(frozen=True)
class Event:
    """What one message means for Exist."""

    attribute: str
    mode: str  # "increment" or "update"
    value: int | float | str  # the amount to add (increment) or the day's total (update)


@dataclass(frozen=True)
class Rejected:
    """Bad input: ``kind`` is a short stable category, ``detail`` a (truncated) explanation."""

    kind: str
    detail: str


@dataclass(frozen=True)
class Evaluation:
    event: Event | None  # None when the message does not count (or was rejected)
    new_state: object  # the edge state after this message; None when the mapping has no edge
    rejected: Rejected | None = None
    skipped: str | None = None  # why it didn't count when not rejected


class _Reject(Exception):
    def __init__(self, kind: str, detail: str):
        super().__init__(kind)
        self.rejected = Rejected(kind, _truncate(detail))


def _truncate(text: str, limit: int = DETAIL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _show(value: Any) -> str:
    """A short description of a value for a detail message (never the whole payload)."""
    try:
        text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    except (ValueError, TypeError, RecursionError):
        text = f"a {type(value).__name__}"
    return _truncate(text, 60)


class _Payload:
    """The payload text and, parsed at most once and only when asked for, its JSON."""

    def __init__(self, text: str):
        self.text = text
        self._json: Any = _UNSET
        self.json_error: str | None = None

    def json(self) -> Any:
        """The parsed JSON, or ``_UNSET`` (with ``json_error`` set) when it isn't JSON."""
        if self._json is _UNSET and self.json_error is None:
            try:
                self._json = json.loads(self.text)
            except RecursionError:
                self.json_error = "the JSON is nested too deeply"
            except ValueError as err:  # JSONDecodeError, and ints beyond int()'s digit limit
                self.json_error = f"not JSON: {err}"
        return self._json


class Mapping:
    """One ``mappings`` entry, compiled: matches topics and evaluates messages."""

    def __init__(
        self,
        index: int,
        spec: MappingSpec,
        *,
        max_payload_bytes: int = 262_144,
        attribute_spec: AttributeSpec | None = None,
        learned_type: int | None = None,
    ):
        self.index = index
        self.spec = spec
        self.attribute = spec.attribute
        self.mode = spec.mode
        self.max_payload_bytes = max_payload_bytes
        self._exact = "+" not in spec.topic and "#" not in spec.topic
        self._path = JsonPath(spec.json_path) if spec.json_path else None
        self._template = compile_template(spec.value_template) if spec.value_template else None
        self._condition = compile_template(spec.condition) if spec.condition else None
        # What the attribute holds lets bad values be refused here rather than by Exist: the value
        # type Exist reported (``learned_type``), else a custom spec's declared one; "any" when
        # neither is known yet (Exist then judges, and the client coerces).
        custom = attribute_spec is not None and attribute_spec.template is None
        declared = attribute_spec.value_type if custom else None
        self.value_type: int | None = learned_type if learned_type is not None else declared
        if self.value_type is None:
            self.expects = "any"
        else:
            self.expects = "string" if self.value_type == STRING_TYPE else "number"

    def __repr__(self) -> str:
        return f"<Mapping {self.index}: {self.spec.topic} -> {self.attribute} ({self.mode})>"

    def matches(self, topic: str) -> bool:
        """Whether ``topic`` matches this mapping's topic filter (MQTT rules, via paho)."""
        if self._exact:
            return topic == self.spec.topic
        try:
            return topic_matches_sub(self.spec.topic, topic)
        except Exception:  # noqa: BLE001 - a hostile topic must not break routing
            return False

    @property
    def uses_state(self) -> bool:
        """Whether edge detection is on (the caller must keep state per topic)."""
        return self.spec.edge is not None

    # ------------------------------------------------------------------------------ evaluate

    def evaluate(
        self, topic: str, payload: bytes, retained: bool, previous_state: object
    ) -> Evaluation:
        """What this message means; never raises."""
        keep = previous_state if self.uses_state else None
        try:
            return self._evaluate(topic, payload, retained, previous_state)
        except _Reject as rej:
            return Evaluation(None, keep, rej.rejected)
        except Exception as err:  # noqa: BLE001 - a safety net: bad input never crashes ingest
            return Evaluation(
                None, keep, Rejected("internal_error", _truncate(f"{type(err).__name__}: {err}"))
            )

    def _evaluate(
        self, topic: str, payload: bytes, retained: bool, previous_state: object
    ) -> Evaluation:
        spec = self.spec
        keep = previous_state if self.uses_state else None
        if isinstance(payload, str):
            payload = payload.encode("utf-8", "surrogatepass")
        if retained and spec.retained == "ignore" and not self.uses_state:
            return Evaluation(None, None, skipped="retained snapshot")  # unused, so not judged
        size = len(payload)
        if size > self.max_payload_bytes:
            raise _Reject(
                "too_large",
                f"payload is {size} bytes; max_payload_bytes is {self.max_payload_bytes}",
            )
        try:
            text = bytes(payload).decode("utf-8")
        except UnicodeDecodeError:
            raise _Reject(
                "not_utf8",
                f"payload is not UTF-8 text ({size} bytes, starting {bytes(payload[:16]).hex()})",
            ) from None
        message = _Payload(text.removeprefix("\ufeff"))

        if self._condition is not None:
            verdict = self._render(self._condition, message, topic)
            if isinstance(verdict, RenderFailure):
                if verdict.undefined and message.json_error is None:
                    return Evaluation(None, keep, skipped="condition undefined")
                if verdict.undefined:
                    raise _Reject("not_json", f"condition needs value_json: {message.json_error}")
                raise _Reject("condition_error", f"condition: {verdict.detail}")
            if not is_truthy(verdict):
                return Evaluation(None, keep, skipped="condition false")

        value = self._extract(message, topic)

        new_state = None
        if self.uses_state:
            new_state, counts, why = self._edge(value, previous_state, retained)
            if not counts:
                return Evaluation(None, new_state, skipped=why)

        if self.mode == "increment":
            amount = self._number(value) if spec.amount == "value" else spec.amount
            return Evaluation(Event(self.attribute, "increment", amount), new_state)
        return Evaluation(Event(self.attribute, "update", self._total(value)), new_state)

    # ------------------------------------------------------------------------------ steps

    @staticmethod
    def _render(template: Any, message: _Payload, topic: str) -> str | RenderFailure:
        if template.uses_value_json:
            data = message.json()
            if data is not _UNSET:
                return template.render(message.text, topic, data)
        return template.render(message.text, topic)

    def _extract(self, message: _Payload, topic: str) -> Any:
        if self._path is not None:
            data = message.json()
            if data is _UNSET:
                raise _Reject("not_json", f"json_path {self._path.text}: {message.json_error}")
            try:
                return self._path.get(data)
            except LookupError as err:
                raise _Reject("path_missing", f"json_path {self._path.text}: {err}") from None
        if self._template is not None:
            rendered = self._render(self._template, message, topic)
            if isinstance(rendered, RenderFailure):
                if rendered.undefined and message.json_error is not None:
                    raise _Reject(
                        "not_json", f"value_template needs value_json: {message.json_error}"
                    )
                raise _Reject("template_error", f"value_template: {rendered.detail}")
            return rendered
        return message.text

    def _edge(self, value: Any, previous_state: object, retained: bool) -> tuple[Any, bool, str]:
        if isinstance(value, (dict, list)):
            raise _Reject("not_scalar", f"edge needs a single state, got {_show(value)}")
        state = normalize_state(value)
        if isinstance(state, float) and not math.isfinite(state):
            raise _Reject("not_finite", f"state {_show(value)} is not a finite number")
        new_state = {"last": state}
        if retained:
            return new_state, False, "retained snapshot"
        if not isinstance(previous_state, dict) or "last" not in previous_state:
            return new_state, False, "no previous state"
        edge = self.spec.edge
        before = previous_state["last"]
        if not same_state(state, edge.to):
            return new_state, False, "not an edge"
        if edge.has_from and not same_state(before, edge.from_):
            return new_state, False, "not an edge"
        if not edge.has_from and same_state(before, edge.to):
            return new_state, False, "not an edge"
        return new_state, True, ""

    def _number(self, value: Any) -> int | float:
        """A finite number (numeric text accepted), whole for integer attributes."""
        if isinstance(value, bool):
            raise _Reject("not_a_number", f"{_show(value)} is a boolean, not a number")
        if isinstance(value, str):
            number = parse_number(value)
            if number is None:
                raise _Reject("not_a_number", f"{_show(value)} is not a number")
            value = number
        if not isinstance(value, (int, float)):
            raise _Reject("not_a_number", f"{_show(value)} is not a number")
        if isinstance(value, float) and not math.isfinite(value):
            raise _Reject("not_finite", f"{value} is not a finite number")
        if self.value_type in INTEGER_TYPES and isinstance(value, float):
            if not value.is_integer():
                raise _Reject(
                    "not_an_integer",
                    f"{value} is not a whole number ({self.attribute} has value type "
                    f"{self.value_type})",
                )
            value = int(value)
        return value

    def _total(self, value: Any) -> int | float | str:
        """The day's total for update mode: a finite number, or text for string attributes."""
        if value is None or (isinstance(value, str) and not value.strip()):
            raise _Reject("no_value", "the value is empty" if value is not None else "null")
        if (
            isinstance(value, str)
            and value.strip().lower() in NO_VALUE_STATES
            and self.expects != "string"
        ):
            # Home Assistant's states for "no reading": never a day's total, even before the
            # attribute's value type is known (it would replace a good total).
            raise _Reject("no_value", f"{value.strip()!r} is a 'no reading' state")
        if isinstance(value, (dict, list)):
            raise _Reject("not_scalar", f"expected a single value, got {_show(value)}")
        if self.expects == "string":
            return value.strip() if isinstance(value, str) else json.dumps(value)
        if self.expects == "number" or not isinstance(value, str):
            return self._number(value)
        number = parse_number(value)
        if number is None:  # text: right for a string attribute (Exist refuses it otherwise)
            return value.strip()
        return self._number(number)


def build_mappings(
    config: BridgeConfig, value_types: Callable[[str], int | None] | None = None
) -> list[Mapping]:
    """The config's mappings, compiled, in file order (``Mapping.index`` is the position).

    ``value_types`` gives the value type Exist reported for an attribute name (learned by the
    client), so values can be checked locally without a copy of Exist's template table."""
    declared = {a.name: a for a in config.attributes}
    return [
        Mapping(
            index,
            spec,
            max_payload_bytes=config.bridge.max_payload_bytes,
            attribute_spec=declared.get(spec.attribute),
            learned_type=value_types(spec.attribute) if value_types else None,
        )
        for index, spec in enumerate(config.mappings)
    ]


def route(mappings: list[Mapping], topic: str) -> list[Mapping]:
    """Every mapping whose topic filter matches ``topic`` (a message may feed several)."""
    return [m for m in mappings if m.matches(topic)]
