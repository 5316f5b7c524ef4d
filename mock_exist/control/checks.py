"""Checks of control-API input, in plain Python (no Flask): the model layer's own rules.

Both the Python control API (``MockExist.set_rate_limit`` and the rest) and the ``/_mock/``
views call these, so a value refused over HTTP is refused from Python too. Each raises
``ControlError`` (a ``ValueError``) whose message starts with the field's name:
``"limit: must be a whole number"``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Literal, overload
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

YEAR = 366 * 86400.0
MAX_SPAN = 100 * YEAR  # the longest clock step, token lifetime or rate window accepted
CLOCK_RANGE = (datetime(1900, 1, 1, tzinfo=timezone.utc), datetime(9000, 1, 1, tzinfo=timezone.utc))
MAX_COUNT = 10**9  # fault counts and rate limits
MAX_LATENCY = 3600.0  # seconds a fault may sleep
MAX_SEED = 2**63 - 1


class ControlError(ValueError):
    """A refused control-API value; ``field`` names it and the message starts with it."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


@overload
def whole(
    field: str, value: object, low: int, high: int, *, nullable: Literal[False] = False
) -> int: ...
@overload
def whole(field: str, value: object, low: int, high: int, *, nullable: bool) -> int | None: ...
def whole(field: str, value: object, low: int, high: int, *, nullable: bool = False) -> int | None:
    """An ``int`` (not a bool) within ``low..high``, or None when ``nullable``."""
    if value is None and nullable:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise ControlError(field, "must be a whole number")
    if not low <= value <= high:
        raise ControlError(field, f"must be between {low:g} and {high:g}")
    return value


@overload
def number(
    field: str, value: object, low: float, high: float, *, nullable: Literal[False] = False
) -> float: ...
@overload
def number(
    field: str, value: object, low: float, high: float, *, nullable: bool
) -> float | None: ...
def number(
    field: str, value: object, low: float, high: float, *, nullable: bool = False
) -> float | None:
    """An ``int`` or ``float`` (not a bool, not NaN) within ``low..high``."""
    if value is None and nullable:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ControlError(field, "must be a number")
    if not low <= value <= high:  # also refuses NaN
        raise ControlError(field, f"must be between {low:g} and {high:g}")
    return value


@overload
def text(field: str, value: object, *, nullable: Literal[False]) -> str: ...
@overload
def text(field: str, value: object, *, nullable: bool = True) -> str | None: ...
def text(field: str, value: object, *, nullable: bool = True) -> str | None:
    """A non-empty string, or None when ``nullable``."""
    if value is None and nullable:
        return None
    if not isinstance(value, str) or not value:
        raise ControlError(field, "must be a non-empty string")
    return value


def boolean(field: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ControlError(field, "must be true or false")
    return value


def choice(field: str, value: object, options: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in options:
        raise ControlError(field, f"must be one of {', '.join(options)}")
    return value


def tz_name(field: str, value: object) -> str:
    name = text(field, value, nullable=False)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ControlError(field, f"unknown IANA timezone '{name}'") from None
    return name


def text_list(field: str, value: object, *, nullable: bool = True) -> list[str] | None:
    if value is None and nullable:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ControlError(field, "must be a list of non-empty strings")
    return list(value)


def instant(field: str, value: object) -> datetime:
    """An ISO-8601 date-time with an offset (a string or an aware ``datetime``), 1900-9000."""
    when = value if isinstance(value, datetime) else None
    if isinstance(value, str):
        try:  # "Z" for UTC: Python 3.10's parser refuses it
            when = datetime.fromisoformat(
                value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
            )
        except ValueError:
            when = None
    if when is None or when.tzinfo is None:
        raise ControlError(field, "must be an ISO-8601 date-time with a timezone offset")
    if not CLOCK_RANGE[0] <= when < CLOCK_RANGE[1]:
        raise ControlError(field, "must be between the years 1900 and 9000")
    return when


def clock_target(field: str, timestamp: float) -> float:
    """A POSIX time the clock may be moved to (within the years 1900-9000)."""
    if not CLOCK_RANGE[0].timestamp() <= timestamp < CLOCK_RANGE[1].timestamp():
        raise ControlError(field, "would move the clock out of the years 1900-9000")
    return timestamp
