"""Values beyond Exist's range (``domain.MAX_ABS_VALUE``) are refused at the mapping as
``out_of_range`` bad input, logged once per topic, instead of being counted and then refused by
Exist for the whole day."""

from __future__ import annotations

import logging

import pytest

from mqtt_bridge.config import parse_config
from mqtt_bridge.exist import answers, domain
from mqtt_bridge.pipeline.buffer.outbox import Outbox
from mqtt_bridge.pipeline.process.mapping import Mapping, build_mappings
from mqtt_bridge.pipeline.process.processor import IncomingMessage, MessageProcessor

LEARNED = {"steps": 0, "water_ml": 0}  # integer attributes, as Exist reports them


def mapping(body: str) -> Mapping:
    text = (
        "exist: {token: t}\nattributes: [{template: steps}, "
        "{name: water_ml, label: Water ml, group: food, value_type: 0}]\nmappings:\n  " + body
    )
    [m] = build_mappings(parse_config(text), LEARNED.get)
    return m


def rejected(ev) -> str | None:
    return ev.rejected.kind if ev.rejected else None


UPDATE = "- {topic: t, attribute: steps, mode: update}\n"
INCREMENT = "- {topic: t, attribute: water_ml, amount: value}\n"


def test_the_bound_is_defined_once_in_domain():
    assert domain.MAX_ABS_VALUE == 2**31 - 1
    assert answers.MAX_ABS_VALUE is domain.MAX_ABS_VALUE


@pytest.mark.parametrize(
    "payload", [b"1e308", b"2147483648", b"-2147483648", b"9" * 5000, b'{"v": 1e308}']
)
def test_values_beyond_exists_range_are_out_of_range(payload):
    m = mapping(
        UPDATE
        if not payload.startswith(b"{")
        else "- {topic: t, attribute: steps, mode: update, json_path: v}\n"
    )
    ev = m.evaluate("t", payload, False, None)
    assert rejected(ev) == "out_of_range", ev
    assert "out of range" in ev.rejected.detail
    assert "inf" not in ev.rejected.detail


def test_the_largest_value_is_still_taken():
    ev = mapping(UPDATE).evaluate("t", b"2147483647", False, None)
    assert ev.event is not None and ev.event.value == 2**31 - 1


def test_an_increment_beyond_the_range_is_out_of_range_too():
    ev = mapping(INCREMENT).evaluate("t", b"3e9", False, None)
    assert rejected(ev) == "out_of_range"


def test_out_of_range_is_a_dead_letter_logged_once_per_topic(tmp_path, caplog):
    box = Outbox(tmp_path / "outbox.sqlite")
    try:
        processor = MessageProcessor([mapping(UPDATE)], "UTC", box)
        with caplog.at_level(logging.WARNING):
            for i in range(3):
                commit = processor.process(
                    IncomingMessage(
                        topic="t",
                        payload=b"1e308",
                        qos=1,
                        mid=i + 1,
                        dup=False,
                        retain=False,
                        received_at=1_700_000_000.0,
                    )
                )
                assert commit is not None
        lines = [
            r.getMessage()
            for r in caplog.records
            if "out_of_range" in r.getMessage() or "out of range" in r.getMessage()
        ]
        assert len(lines) == 1, lines
    finally:
        box.close()
