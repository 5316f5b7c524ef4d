"""Exist's answers are checked before they touch state: a value must be a finite number in range,
``success``/``failed`` lists of objects, failures with string codes. An answer that fails the checks
is a failed request (or, for one item, a failure with ``error_code`` ``invalid_answer``), never a
stored value."""

from __future__ import annotations

import logging
import math
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .domain import MAX_ABS_VALUE

log = logging.getLogger("exist_bridge.client")


INVALID_ANSWER = "invalid_answer"  # error_code of an item whose answer failed the checks


def value_problem(value: Any) -> str | None:
    """Why ``value`` (a number Exist answered, e.g. an increment's ``current``) can't be believed:
    not a number, a bool, NaN/infinity or beyond ``MAX_ABS_VALUE``. None when it is fine."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"{short(value)} is not a number"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{short(value)} is not a finite number"
    if abs(value) > MAX_ABS_VALUE:
        return f"{short(value)} is beyond +/-{MAX_ABS_VALUE}"
    return None


def shape_problem(data: Any, raw: bytes) -> str:
    """What is wrong with an answer that should be a JSON object: ``data`` is what it parsed to
    (None: not JSON), ``raw`` its body (the first bytes are shown)."""
    if data is None:
        start = raw[:60].decode("utf-8", "replace").strip()
        return f"not JSON (it starts with {start!r})" if start else "not JSON (an empty body)"
    kind = {list: "list", str: "string", bool: "boolean"}.get(type(data), type(data).__name__)
    return f"a JSON {kind}, not an object"


def known_zone(zone: Any) -> bool:
    """True when ``zone`` is the name of an IANA time zone this machine knows."""
    if not isinstance(zone, str) or not zone or len(zone) > 64:
        return False
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def answer_problem(data: dict[str, Any]) -> str | None:
    """What is wrong with the shape of a write answer (``success``/``failed`` must be lists of
    objects, failures with string codes), or None."""
    for key in ("success", "failed"):
        items = data.get(key)
        if items is None:
            continue
        if not isinstance(items, list):
            return f"'{key}' is {type(items).__name__}, not a list"
        for item in items:
            if not isinstance(item, dict):
                return f"'{key}' holds a {type(item).__name__}, not an object"
    for item in data.get("failed") or []:
        for field_name in ("error_code", "error"):
            if field_name in item and not isinstance(item[field_name], str):
                return f"a failure's '{field_name}' is {type(item[field_name]).__name__}"
    return None


def check_currents(
    success: list[dict[str, Any]], failed: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Move increment successes whose ``current`` can't be believed to ``failed`` (code
    ``invalid_answer``): that item is retried later, the other items are unaffected."""
    good = []
    for item in success:
        problem = value_problem(item["current"]) if "current" in item else None
        if problem is None:
            good.append(item)
            continue
        log.debug(  # the caller reports it (the flusher once per attribute)
            "increment: Exist answered an unbelievable current for %s on %s (%s); not stored, "
            "retried later",
            short(item.get("name")),
            short(item.get("date")),
            problem,
        )
        failed = [*failed, {**item, "error_code": INVALID_ANSWER, "error": f"current {problem}"}]
    return good, failed
