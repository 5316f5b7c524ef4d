"""MessageProcessor: redeliveries, local dates, bad input logged once per kind and topic."""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from mqtt_bridge.config import parse_config
from mqtt_bridge.ingest import IncomingMessage, MessageProcessor
from mqtt_bridge.mapping import build_mappings
from mqtt_bridge.outbox import Outbox

CONFIG = """
exist: {token: t}
mappings:
  - {topic: "door/+", attribute: fridge_opens, json_path: contact, edge: {from: true, to: false}}
  - {topic: "button", attribute: coffees}
"""


@pytest.fixture
def processor(tmp_path):
    box = Outbox(tmp_path / "o.sqlite")
    yield MessageProcessor(build_mappings(parse_config(CONFIG)), "Europe/Berlin", box)
    box.close()


def msg(topic, payload, mid=1, dup=False, qos=1, at=1_700_000_000.0, retain=False):
    return IncomingMessage(topic, payload, qos, mid, dup, retain, at)


def test_a_redelivery_of_a_message_taken_in_is_recognised(processor):
    first = processor.process(msg("button", b"x", mid=5))
    assert [e.value for e in first.effects] == [1] and first.mid == 5
    again = processor.process(msg("button", b"x", mid=5, dup=True))
    assert again.effects == [] and again.counters == {"duplicates_ignored": 1}
    assert again.mid == 0  # nothing to remember; the caller still acks it


def test_dup_flag_with_other_content_is_a_new_message(processor):
    processor.process(msg("button", b"x", mid=5))
    other = processor.process(msg("button", b"y", mid=5, dup=True))  # id reused after an ack
    assert len(other.effects) == 1


def test_qos0_messages_are_never_treated_as_redeliveries(processor):
    processor.process(msg("button", b"x", mid=0, qos=0))
    again = processor.process(msg("button", b"x", mid=0, qos=0, dup=True))
    assert len(again.effects) == 1 and again.mid == 0


def test_the_date_is_the_users_local_date_at_receipt(processor):
    late = datetime(2024, 6, 30, 23, 30, tzinfo=ZoneInfo("Europe/Berlin")).timestamp()
    commit = processor.process(msg("button", b"x", at=late))
    assert commit.effects[0].date == "2024-06-30"
    commit = processor.process(msg("button", b"x", mid=2, at=late + 3600))
    assert commit.effects[0].date == "2024-07-01"


def test_edge_state_travels_with_the_commit(processor):
    processor.process(msg("door/a", b'{"contact": true}', mid=1))
    commit = processor.process(msg("door/a", b'{"contact": false}', mid=2))
    assert commit.states == {"0:door/a": {"last": False}}  # committed with the effect
    assert len(commit.effects) == 1


def test_bad_input_is_logged_once_per_kind_and_topic(processor, caplog):
    caplog.set_level(logging.WARNING, logger="exist_bridge.ingest")
    for i in range(50):
        commit = processor.process(msg("door/a", b"garbage", mid=i + 1))
        assert commit.dead and commit.counters["bad_input.not_json"] == 1
    processor.process(msg("door/b", b"garbage", mid=99))
    warnings = [r for r in caplog.records if "not_json" in r.getMessage()]
    assert [("door/a" in w.getMessage(), "door/b" in w.getMessage()) for w in warnings] == [
        (True, False),
        (False, True),
    ]
