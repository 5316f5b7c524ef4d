"""How each Exist value type is shown: the state document's values and Home Assistant's kind."""

from __future__ import annotations

import pytest

from mqtt_bridge.pipeline.mirror.values import presented, sensor_kind


@pytest.mark.parametrize(
    ("value", "value_type", "shown"),
    [
        (4321, 0, 4321),
        (72.4, 1, 72.4),
        ("a note", 2, "a note"),
        (415, 3, 415),
        (450, 4, "07:30"),  # minutes from midnight
        (1440 + 15, 4, "00:15"),
        (0.625, 5, 62.5),
        (1, 5, 100.0),
        (-30, 6, "11:30"),  # minutes from midday
        (780, 6, "01:00"),
        (1, 7, "ON"),
        (0, 7, "OFF"),
        (7, 8, 7),
        (None, 3, None),  # no value yet: unknown
        (None, 7, None),
    ],
)
def test_presented(value, value_type, shown):
    assert presented(value, value_type) == shown


def test_sensor_kinds():
    assert (sensor_kind(3).unit, sensor_kind(3).device_class) == ("min", "duration")
    assert sensor_kind(5).unit == "%" and sensor_kind(5).state_class == "measurement"
    assert sensor_kind(7).component == "binary_sensor"
    assert sensor_kind(4).state_class is None and sensor_kind(2).state_class is None
    assert sensor_kind(None) == sensor_kind(2)  # unknown: shown as text
