"""Values in the form Exist accepts, checked before any request is spent on them.

``check_write_values`` refuses what no attribute accepts (missing, None, bool, NaN, infinity);
``coerce_value`` also applies the value type's rules: ``9.0`` becomes ``9`` for integer types
(0, 3, 4, 6, 7, 8), percentages (5) must be within 0..1, booleans 0/1, scales 1..9, times of day
0..1439. Both raise ``InvalidValue`` (a ``ValueError``).
"""

from __future__ import annotations

import math
import numbers
from decimal import Decimal
from typing import Any

from .domain import INTEGER_TYPES, NOT_INCREMENTABLE
from .errors import InvalidValue

# Exist's value types (reference/object_types.md, "Attribute value types"); the sets are in domain
INTEGER = 0
DECIMAL = 1
STRING = 2
DURATION = 3
TIME_OF_DAY = 4
PERCENTAGE = 5
TIME_FROM_MIDDAY = 6
BOOLEAN = 7
SCALE = 8


def check_write_values(items: list[dict[str, Any]]) -> None:
    """Refuse values no attribute accepts (missing, None, bool, NaN, infinity) before sending."""
    for item in items:
        name = str(item.get("name", "?"))
        if "value" not in item:
            raise InvalidValue(name, None, "the item has no 'value'")
        value = item["value"]
        if value is None:
            raise InvalidValue(name, value, "None can't be sent (Exist never sets a value to null)")
        if isinstance(value, bool):
            raise InvalidValue(name, value, "booleans must be sent as 0 or 1")
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidValue(name, value, "not a finite number")


def coerce_value(
    value: Any, value_type: int | None, *, attribute: str = "?", increment: bool = False
) -> int | float | str:
    """Return ``value`` in the form Exist accepts for ``value_type`` or raise ``InvalidValue``.

    ``value_type`` None (unknown) only applies the universal checks. For an ``increment`` the
    value is a delta: range checks of the day's total are left to Exist, and types that can't be
    incremented (string, scale, time of day) are refused.
    """
    if value is None:
        raise InvalidValue(attribute, value, "None can't be sent")
    if isinstance(value, bool):
        raise InvalidValue(attribute, value, "booleans must be sent as 0 or 1")
    if increment and value_type in NOT_INCREMENTABLE:
        raise InvalidValue(attribute, value, f"value type {value_type} can't be incremented")
    if value_type == STRING or isinstance(value, str):
        return _text(value, value_type, attribute)
    number = _number(value, attribute)
    if value_type is None:
        return number
    return _of_type(number, value, value_type, attribute, increment)


def _text(value: Any, value_type: int | None, attribute: str) -> str:
    """A string for a string attribute, or for one whose type is unknown."""
    if value_type == STRING:
        if not isinstance(value, str):
            raise InvalidValue(attribute, value, "a string attribute needs a string value")
        return value
    if value_type is None:
        return str(value)
    raise InvalidValue(attribute, value, f"value type {value_type} needs a number")


def _number(value: Any, attribute: str) -> int | float:
    """``value`` as a finite int or float (a Decimal or other real number converted)."""
    if not isinstance(value, (numbers.Real, Decimal)):
        raise InvalidValue(attribute, value, f"unsupported type {type(value).__name__}")
    number: int | float = value if isinstance(value, int) else float(value)
    if isinstance(number, float) and not math.isfinite(number):
        raise InvalidValue(attribute, value, "not a finite number")
    return number


def _of_type(
    number: int | float, value: Any, value_type: int, attribute: str, increment: bool
) -> int | float:
    """``number`` as ``value_type`` takes it: whole for integer types (9.0 becomes 9), within
    the type's range (a total's, not an increment's)."""
    if value_type in INTEGER_TYPES:
        if isinstance(number, float):
            if not number.is_integer():
                raise InvalidValue(
                    attribute, value, f"value type {value_type} needs a whole number"
                )
            number = int(number)
        if not increment:
            _check_integer_range(attribute, value, value_type, number)
        return number
    if value_type == PERCENTAGE:
        low = -1.0 if increment else 0.0
        if not low <= number <= 1.0:
            raise InvalidValue(attribute, value, "a percentage must be between 0 and 1")
        return number
    return number  # DECIMAL, or a type this code doesn't know yet


def _check_integer_range(attribute: str, value: Any, value_type: int, number: int) -> None:
    if value_type == BOOLEAN and number not in (0, 1):
        raise InvalidValue(attribute, value, "a boolean must be 0 or 1")
    if value_type == SCALE and not 1 <= number <= 9:
        raise InvalidValue(attribute, value, "a scale must be between 1 and 9")
    if value_type in (TIME_OF_DAY, TIME_FROM_MIDDAY) and not 0 <= number <= 1439:
        raise InvalidValue(attribute, value, "a time of day must be 0..1439 minutes")
