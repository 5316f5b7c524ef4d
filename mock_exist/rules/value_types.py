"""Value types 0-8 and the checks exist.io applies to a value before storing it.

Documented: the type table, percentages 0.0-1.0, scales 1-9, booleans 0/1, ``mood_note`` at most
1,000 characters, increment refused for strings, scales and times of day, and (observed by
third-party clients) integer types refusing JSON floats even when whole. Assumed: times of day are
0-1439 minutes, durations and counts may be any integer, and an increment may not push a boolean or
percentage out of its range.

Numeric ranges: the docs are silent. We assume integer types are stored in a signed 32-bit integer
column (Django's ``IntegerField``, most likely exist.io's backing store) and decimals in a double:
an integer outside -2**31..2**31-1, or a decimal that is not a finite double, is a ``validation``
failure, for a value sent and for the total an increment would produce.
"""

from __future__ import annotations

import math
import re
import sys
from datetime import date
from typing import TypeGuard

from .errors import ValidationFailed

INTEGER = 0
DECIMAL = 1
STRING = 2
DURATION = 3
TIME_OF_DAY = 4
PERCENTAGE = 5
TIME_FROM_MIDDAY = 6
BOOLEAN = 7
SCALE = 8

ALL_TYPES = range(0, 9)
INTEGER_TYPES = frozenset({INTEGER, DURATION, TIME_OF_DAY, TIME_FROM_MIDDAY, BOOLEAN, SCALE})
NOT_INCREMENTABLE = frozenset({STRING, SCALE, TIME_OF_DAY, TIME_FROM_MIDDAY})
CREATABLE_TYPES = frozenset(ALL_TYPES) - {TIME_FROM_MIDDAY}

STRING_MAX = {"mood_note": 1000}
INT_MIN, INT_MAX = -(2**31), 2**31 - 1  # assumed (see above): signed 32-bit
FLOAT_MAX = sys.float_info.max
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_value(value_type: int, value: object, attribute: str = "") -> int | float | str:
    """Return ``value`` if it is valid for ``value_type``, else raise ``ValidationFailed``."""
    if value_type == STRING:
        if not isinstance(value, str):
            raise ValidationFailed("Value must be a string")
        limit = STRING_MAX.get(attribute)
        if limit is not None and len(value) > limit:
            raise ValidationFailed(f"Value must be at most {limit} characters")
        return value
    if not _is_number(value):
        raise ValidationFailed("Value must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationFailed("Value must be a finite number")
    if value_type in INTEGER_TYPES:
        if isinstance(value, float):
            raise ValidationFailed("Cannot apply a float to an integer type")
        check_range(value_type, value)
        return value
    if value_type == PERCENTAGE:
        if not 0.0 <= value <= 1.0:
            raise ValidationFailed("Value must be a float between 0 and 1")
        return value
    check_range(value_type, value)
    return value  # DECIMAL


def check_range(value_type: int, value: int | float) -> None:
    """Range rules that also apply to the total an increment produces."""
    if value_type in INTEGER_TYPES and not INT_MIN <= value <= INT_MAX:
        raise ValidationFailed(f"Value must be an integer between {INT_MIN} and {INT_MAX}")
    if not -FLOAT_MAX <= value <= FLOAT_MAX:  # also false for NaN
        raise ValidationFailed("Value must be a finite number")
    if value_type == SCALE and not 1 <= value <= 9:
        raise ValidationFailed("Value must be an integer between 1 and 9")
    if value_type == BOOLEAN and value not in (0, 1):
        raise ValidationFailed("Value must be 0 or 1")
    if value_type in (TIME_OF_DAY, TIME_FROM_MIDDAY) and not 0 <= value <= 1439:
        raise ValidationFailed("Value must be an integer between 0 and 1439 (minutes)")
    if value_type == PERCENTAGE and not 0.0 <= value <= 1.0:
        raise ValidationFailed("Value must be a float between 0 and 1")


def check_increment(value_type: int, value: object) -> int | float:
    """Validate an increment delta (the total is checked with ``check_range`` afterwards)."""
    if value_type in NOT_INCREMENTABLE:
        raise ValidationFailed("Cannot increment an attribute of this value type")
    if not _is_number(value):
        raise ValidationFailed("Value must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationFailed("Value must be a finite number")
    if value_type in INTEGER_TYPES and isinstance(value, float):
        raise ValidationFailed("Cannot apply a float to an integer type")
    return value


def parse_date(raw: object) -> date:
    """Parse a ``YYYY-mm-dd`` string strictly."""
    if not isinstance(raw, str) or not _DATE.fullmatch(raw):
        raise ValidationFailed("Date must be a string of format YYYY-mm-dd")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed("Date must be a string of format YYYY-mm-dd") from None
