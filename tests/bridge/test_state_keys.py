"""Issue 11, item 8: per-topic state is keyed on what a mapping reads, not on its position.

Two counter mappings read one topic (two meters in one payload). Reordering them in the config
between two runs must not make each inherit the other's baseline: checked end to end with a real
mosquitto and the mock, and state dirs keyed the old way (by position) are migrated or dropped
with a logged explanation, never a crash.
"""

from __future__ import annotations

import json
import logging

import yaml

from mqtt_bridge.config import parse_config
from mqtt_bridge.pipeline.buffer.outbox import Commit, Outbox
from mqtt_bridge.pipeline.process.mapping import build_mappings
from mqtt_bridge.pipeline.process.processor import IncomingMessage, MessageProcessor

from ..support.config import bridge_config
from ..support.faults import FaultBridge
from ..support.waiting import wait_until

ATTRIBUTES = [
    {"name": "meter_a", "label": "Meter a", "group": "custom", "value_type": 0},
    {"name": "meter_b", "label": "Meter b", "group": "custom", "value_type": 0},
]
A = {"topic": "house/meters", "attribute": "meter_a", "mode": "counter", "json_path": "a"}
B = {"topic": "house/meters", "attribute": "meter_b", "mode": "counter", "json_path": "b"}


def run_once(mock, broker, state, mappings: list[dict], readings, expected: dict[str, int]) -> None:
    text = bridge_config(
        url=mock.url,
        token=mock.token,
        port=broker.port,
        state_dir=state,
        client_id="bridge-state-keys",
        delay=1,
        attributes=ATTRIBUTES,
        mappings=mappings,
    )
    fb = FaultBridge(mock, broker, state, text=text)
    try:
        for a, b in readings:
            fb.pub.publish("house/meters", json.dumps({"a": a, "b": b}))

        def landed() -> dict[str, int]:
            return {n: sum(v or 0 for v in mock.state.values(n).values()) for n in expected}

        try:
            wait_until(
                lambda: landed() == expected and fb.bridge.outbox.status()["pending_rows"] == 0,
                timeout=30,
            )
        except AssertionError:
            raise AssertionError(f"expected {expected}, Exist has {landed()}") from None
    finally:
        fb.close()


def test_reordering_two_counter_mappings_on_one_topic_keeps_each_baseline(
    mock_exist, mosquitto, tmp_path
):
    state = tmp_path / "state"
    # run 1: baselines a=100, b=5000, then +10 and +100
    run_once(
        mock_exist,
        mosquitto,
        state,
        [A, B],
        [(100, 5000), (110, 5100)],
        {"meter_a": 10, "meter_b": 100},
    )
    # run 2, the mappings reordered: +10 and +100 more, each against its own last reading
    run_once(mock_exist, mosquitto, state, [B, A], [(120, 5200)], {"meter_a": 20, "meter_b": 200})
    # never a total above the truth on the way (a swapped baseline would overshoot at once)
    for entry in mock_exist.state.ledger():
        if entry["op"] == "update":
            assert entry["after"] <= {"meter_a": 20, "meter_b": 200}[entry["attribute"]], entry


def offline_config(mappings: list[dict]):
    """A config with no broker or Exist to reach, for the processor alone."""
    return parse_config(
        yaml.safe_dump({"exist": {"token": "t"}, "attributes": ATTRIBUTES, "mappings": mappings})
    )


def test_state_keyed_by_position_is_migrated_or_dropped_with_a_log_line(tmp_path, caplog):
    path = tmp_path / "outbox.sqlite"
    box = Outbox(path)
    old = {
        "0:house/meters": {"reading": 110, "carry": 0.0},  # mapping 0 (a) on its topic
        "1:house/meters": {"reading": 5100, "carry": 0.0},  # mapping 1 (b)
        "7:house/meters": {"reading": 1, "carry": 0.0},  # no mapping 7 any more
        "0:elsewhere": {"reading": 3, "carry": 0.0},  # mapping 0 doesn't read that topic
        "1:house/meters:x": {"last": "on"},  # not a counter's state
        "garbage": 42,
    }
    box.commit([Commit(states=old)])
    box.close()

    caplog.set_level(logging.INFO, logger="exist_bridge.ingest")
    box = Outbox(path)
    mappings = build_mappings(offline_config([A, B]))
    processor = MessageProcessor(mappings, "UTC", box)
    lines = [r.getMessage() for r in caplog.records]
    assert any("2 re-keyed" in line and "4 dropped" in line for line in lines), lines
    assert sorted(box.edge_states()) == sorted(m.state_key("house/meters") for m in mappings)

    commit = processor.process(IncomingMessage("house/meters", b'{"a": 120, "b": 5200}', 1, 1))
    assert sorted((e.attribute, e.value) for e in commit.effects) == [
        ("meter_a", 10),
        ("meter_b", 100),
    ]
    box.close()


def test_identical_mappings_keep_separate_states(tmp_path):
    """Two mappings reading exactly the same (the 2nd counts into the same attribute twice)
    each keep their own state, so each adds the increase once."""
    box = Outbox(tmp_path / "outbox.sqlite")
    mappings = build_mappings(offline_config([A, A]))
    assert mappings[0].state_key("t") != mappings[1].state_key("t")
    processor = MessageProcessor(mappings, "UTC", box)
    processor.process(IncomingMessage("house/meters", b'{"a": 1}', 1, 1))
    commit = processor.process(IncomingMessage("house/meters", b'{"a": 4}', 1, 2))
    assert [e.value for e in commit.effects] == [3, 3]
    box.close()
