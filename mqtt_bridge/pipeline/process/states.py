"""The per-topic states duration and counter modes keep (``Mapping.evaluate``'s
``previous_state`` / ``Evaluation.new_state``), read defensively: a stored state of the wrong
shape (an older version, a damaged file) reads as no state, never as an error."""

from __future__ import annotations

import math
from typing import TypeGuard

__all__ = ["counter_state", "duration_state", "finite", "on_state"]


def finite(value: object) -> TypeGuard[int | float]:
    """A number (not a bool) that is neither infinite nor NaN."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond float range
        return False


def counter_state(state: object) -> tuple[float | None, float]:
    """(last reading, carried fraction) from a stored counter state; (None, 0) if it isn't one."""
    if not isinstance(state, dict) or not finite(state.get("reading")):
        return None, 0.0
    carry = state.get("carry", 0.0)
    return float(state["reading"]), float(carry) if finite(carry) and 0 <= carry < 1 else 0.0


def duration_state(state: object) -> tuple[bool, float | None, float]:
    """(on, since, carried seconds) from a stored duration state; off if it isn't one."""
    if not isinstance(state, dict):
        return False, None, 0.0
    carry = state.get("carry", 0.0)
    carry = float(carry) if finite(carry) and 0 <= carry < 60 else 0.0
    since = state.get("since")
    if state.get("on") is True and finite(since):
        return True, float(since), carry
    return False, None, carry


def on_state(on: bool, since: float | None, carry: float, receipt: bool = False) -> dict:
    """A duration state; ``receipt``: ``since`` is a receive time standing in for an untrusted
    event time (a period is only measured between two times of the same kind)."""
    state = {"on": on, "since": since, "carry": carry}
    return {**state, "receipt": True} if receipt else state
