"""Calendar days as Exist names them (``YYYY-mm-dd``), for tests' expectations."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo


def today(tz: str = "UTC") -> str:
    """Today's date in ``tz`` on the real clock."""
    return datetime.now(ZoneInfo(tz)).date().isoformat()


def day_of(timestamp: float, tz: str = "UTC") -> str:
    """The date in ``tz`` of a POSIX ``timestamp``."""
    return datetime.fromtimestamp(timestamp, ZoneInfo(tz)).date().isoformat()
