"""One mirrored attribute: what Exist said of it, and its retained state document.

The document (``<read.topic_prefix>/<attribute>/state``) is plain JSON for any MQTT client:
``state`` is today's value as Home Assistant shows it (a percentage in %, a time of day as
``HH:MM``, a boolean as ``ON``/``OFF``), ``value`` Exist's own; ``yesterday`` and ``last_7_days``
(oldest first) are presented like ``state``; ``average`` and ``average_today`` (this weekday's)
when averages are read.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from ...exist.models import Attribute
from ...exist.summaries import WEEKDAYS, Average

DAYS = 7  # values per attribute: today and the six days before

# Exist's value types (reference/object_types.md)
INTEGER, DECIMAL, STRING, DURATION, TIME_OF_DAY, PERCENTAGE, TIME_FROM_MIDDAY, BOOLEAN, SCALE = (
    range(9)
)
TIMES = frozenset({TIME_OF_DAY, TIME_FROM_MIDDAY})


@dataclass(frozen=True)
class SensorKind:
    """How Home Assistant shows a value type: component, unit, device and state class, icon."""

    component: str = "sensor"
    unit: str | None = None
    device_class: str | None = None
    state_class: str | None = "measurement"
    icon: str | None = None


SENSOR_KINDS = {
    INTEGER: SensorKind(),
    DECIMAL: SensorKind(),
    STRING: SensorKind(state_class=None, icon="mdi:text"),
    DURATION: SensorKind(unit="min", device_class="duration"),
    TIME_OF_DAY: SensorKind(state_class=None, icon="mdi:clock-outline"),
    PERCENTAGE: SensorKind(unit="%"),
    TIME_FROM_MIDDAY: SensorKind(state_class=None, icon="mdi:clock-outline"),
    BOOLEAN: SensorKind(component="binary_sensor", state_class=None),
    SCALE: SensorKind(icon="mdi:numeric"),
}


def sensor_kind(value_type: int | None) -> SensorKind:
    """The ``SensorKind`` of an Exist value type (an unknown one: shown as text)."""
    return SENSOR_KINDS.get(value_type if value_type is not None else -1, SENSOR_KINDS[STRING])


def publishable(value: Any, value_type: int | None) -> Any:
    """A value as Exist answered it, made safe to publish: a number that isn't finite is
    unknown (None; JSON has no NaN), numeric text of a numeric type is its number."""
    if isinstance(value, str) and value_type not in (STRING, None):
        with contextlib.suppress(ValueError):
            value = int(value) if value.strip().lstrip("+-").isdigit() else float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def presented(value: Any, value_type: int | None) -> Any:
    """``value`` as Home Assistant shows it (None stays None: unknown)."""
    if value is None or isinstance(value, bool) and value_type != BOOLEAN:
        return value
    if value_type == BOOLEAN:
        return "ON" if value else "OFF"
    if value_type in TIMES and isinstance(value, (int, float)):
        minutes = int(round(value)) + (720 if value_type == TIME_FROM_MIDDAY else 0)
        return f"{minutes // 60 % 24:02d}:{minutes % 60:02d}"
    if value_type == PERCENTAGE and isinstance(value, (int, float)):
        return round(float(value) * 100, 1)
    return value


@dataclass
class Mirrored:
    """One attribute as last read (or confirmed by a write): its description and values."""

    name: str
    label: str
    group: str | None
    value_type: int | None
    values: dict[str, Any] = field(default_factory=dict)  # date -> Exist's value
    average: Average | None = None
    source: str = "read"  # what set the latest value: a read, or the bridge's own write

    @classmethod
    def from_attribute(cls, attribute: Attribute) -> Mirrored:
        return cls(
            name=attribute.name,
            label=attribute.label or attribute.name,
            group=attribute.group,
            value_type=attribute.value_type,
            values={v.date: publishable(v.value, attribute.value_type) for v in attribute.values},
        )

    def document(self, today: str, updated_at: str) -> dict[str, Any]:
        """The state document for the local date ``today``."""
        day = date.fromisoformat(today)
        recent = [(day - timedelta(days=n)).isoformat() for n in range(DAYS - 1, -1, -1)]
        kind = self.value_type
        doc: dict[str, Any] = {
            "attribute": self.name,
            "label": self.label,
            "group": self.group,
            "value_type": kind,
            "date": today,
            "state": presented(self.values.get(today), kind),
            "value": self.values.get(today),
            "yesterday": presented(self.values.get(recent[-2]), kind),
            "last_7_days": [
                {"date": d, "value": presented(self.values.get(d), kind)} for d in recent
            ],
            "unit": sensor_kind(kind).unit,
            "source": self.source,
            "updated_at": updated_at,
        }
        if self.average is not None:
            doc["average"] = presented(self.average.overall, kind)
            weekday = WEEKDAYS[day.weekday()]
            doc["average_today"] = presented(self.average.weekdays.get(weekday), kind)
            doc["averages_date"] = self.average.date
        return doc
