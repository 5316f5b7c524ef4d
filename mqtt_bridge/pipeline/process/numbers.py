"""The mapping's refusals of a value (``Reject``: a bad-input kind and a detail) and the checks
every number passes: a number (numeric text parsed, booleans refused) within Exist's range
(``domain.MAX_ABS_VALUE``: ``out_of_range``, also for text with more digits than a float holds)."""

from __future__ import annotations

import json
from typing import Any

from ...exist.domain import MAX_ABS_VALUE
from ...expressions import parse_number

DETAIL_CHARS = 200  # the longest detail of a refusal (dead letter, log line)


class Reject(Exception):
    """A message's value refused as bad input of ``kind`` (a dead letter), with a detail."""

    def __init__(self, kind: str, detail: str):
        super().__init__(kind)
        self.kind = kind
        self.detail = detail


def truncate(text: str, limit: int = DETAIL_CHARS) -> str:
    """``text`` cut to ``limit`` characters (an ellipsis marks the cut)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def show(value: Any) -> str:
    """A short description of a value for a detail message (never the whole payload)."""
    try:
        text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    except (ValueError, TypeError, RecursionError):
        text = f"a {type(value).__name__}"
    return truncate(text, 60)


def numeric(value: Any) -> int | float:
    """``value`` as a number (numeric text parsed); booleans and other types are refused."""
    if isinstance(value, bool):
        raise Reject("not_a_number", f"{show(value)} is a boolean, not a number")
    if isinstance(value, str):
        number = parse_number(value)
        if number is None:
            raise Reject("not_a_number", f"{show(value)} is not a number")
        if number in (float("inf"), float("-inf")):  # digits beyond a float's range
            raise Reject("out_of_range", out_of_range(value))
        return number
    if not isinstance(value, (int, float)):
        raise Reject("not_a_number", f"{show(value)} is not a number")
    return value


def out_of_range(value: Any) -> str:
    """The detail of an ``out_of_range`` value (a long one shortened, never as ``inf``)."""
    text = str(value).strip()
    shown = text if len(text) <= 24 else f"{text[:12]}...({len(text)} characters)"
    return f"{shown} is out of range: Exist takes values within +/-{MAX_ABS_VALUE}"
