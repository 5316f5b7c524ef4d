"""Issue 11, item 5: a flood of distinct topics keeps log volume and state bounded.

Through the real processing path (``MessageProcessor`` -> ``CommitWriter`` -> the SQLite outbox):
bad messages on 25,000 distinct topics give a bounded number of log lines (then one summary), and
good readings on 25,000 distinct topics of a counter mapping keep at most ``MAX_TOPIC_STATES``
state rows (least recently seen dropped first), in memory and on disk; states of topics not seen
for ``STATE_MAX_AGE`` are pruned at start.
"""

from __future__ import annotations

import logging
import sqlite3
import time

import pytest

from mqtt_bridge.config import parse_config
from mqtt_bridge.pipeline.buffer.outbox import Outbox
from mqtt_bridge.pipeline.buffer.writer import CommitWriter
from mqtt_bridge.pipeline.process.mapping import build_mappings
from mqtt_bridge.pipeline.process.processor import IncomingMessage, MessageProcessor

# the documented bounds (docs/how-it-works/faults-and-edges.md, docs/reference/state-directory.md)
LOG_BURST = 20  # bad-input lines one by one per minute
MAX_TOPIC_STATES = 10_000  # per-topic states kept
STATE_MAX_AGE = 30 * 86400  # a topic not seen for 30 days loses its state

CONFIG = """
exist: {token: t}
attributes:
  - {name: energy_wh, label: Energy wh, group: custom, value_type: 0}
mappings:
  - {topic: "meter/+/total", attribute: energy_wh, mode: counter, json_path: total}
"""
TOPICS = 25_000


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def pipeline(path, **kwargs):
    box = Outbox(path)
    processor = MessageProcessor(build_mappings(parse_config(CONFIG)), "UTC", box, **kwargs)
    writer = CommitWriter(Outbox(path), ack=lambda acks: None)
    writer.start()
    return box, processor, writer


def feed(processor, writer, messages) -> None:
    for mid, (topic, payload) in enumerate(messages, 1):
        msg = IncomingMessage(topic, payload, qos=1, mid=mid % 65535 + 1)
        writer.submit(processor.process(msg), (msg.mid, msg.qos))
    assert writer.wait_idle(120)


def rows(path) -> int:
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT COUNT(*) FROM edge_state").fetchone()[0]
    finally:
        db.close()


@pytest.mark.slow
def test_bad_input_on_a_flood_of_topics_logs_a_bounded_number_of_lines(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="exist_bridge.ingest")
    path = tmp_path / "outbox.sqlite"
    box, processor, writer = pipeline(path)
    clock = processor.once.clock = Clock()
    try:
        feed(processor, writer, [(f"meter/{i}/total", b"garbage") for i in range(TOPICS)])
        lines = [r.getMessage() for r in caplog.records]
        assert box.counters()["bad_input.not_json"] == TOPICS  # every one counted
        assert len(lines) == LOG_BURST, len(lines)
        assert len(processor.once.seen) <= 10_000  # bounded memory
        assert rows(path) == 0  # bad input keeps no state

        clock.now += 61  # the next window: one summary line for what was not logged
        feed(processor, writer, [("meter/last/total", b"garbage")])
        lines = [r.getMessage() for r in caplog.records]
        assert len(lines) == LOG_BURST + 2, lines[-3:]
        assert f"bad input on {TOPICS - LOG_BURST} more new topic(s)" in lines[-2]
        assert "not_json" in lines[-1] and "meter/last/total" in lines[-1]
        # a topic already logged (and still remembered) is not logged again
        feed(processor, writer, [("meter/last/total", b"garbage")] * 50)
        assert len(caplog.records) == LOG_BURST + 2
    finally:
        writer.stop()
        box.close()


@pytest.mark.slow
def test_state_rows_stay_bounded_under_a_flood_of_topics(tmp_path):
    path = tmp_path / "outbox.sqlite"
    box, processor, writer = pipeline(path)
    try:
        feed(processor, writer, [(f"meter/{i}/total", b'{"total": 5}') for i in range(TOPICS)])
        assert len(processor.states) == MAX_TOPIC_STATES
        assert rows(path) == MAX_TOPIC_STATES
        # the most recently seen are kept: the newest topic counts its next reading
        feed(processor, writer, [(f"meter/{TOPICS - 1}/total", b'{"total": 9}')])
        assert list(box.totals().values()) == [4]  # 9 - 5: its baseline was kept
    finally:
        writer.stop()
        box.close()
    # a restart with a lower cap drops the least recently seen beyond it (with the next commit)
    box, processor, writer = pipeline(path, max_states=100)
    try:
        assert len(processor.states) == 100
        assert processor.mappings[0].state_key(f"meter/{TOPICS - 1}/total") in processor.states
        feed(processor, writer, [("meter/new/total", b'{"total": 1}')])
        assert rows(path) == 100
    finally:
        writer.stop()
        box.close()


def test_states_of_topics_not_seen_for_long_are_pruned_at_start(tmp_path):
    path = tmp_path / "outbox.sqlite"
    box, processor, writer = pipeline(path)
    feed(processor, writer, [(f"meter/{i}/total", b'{"total": 5}') for i in range(10)])
    writer.stop()
    box.close()
    db = sqlite3.connect(path)
    old = time.time() - STATE_MAX_AGE - 3600
    db.execute("UPDATE edge_state SET seen=? WHERE key LIKE '% meter/1/total'", (old,))
    db.commit()
    db.close()
    box, processor, writer = pipeline(path)
    try:
        assert rows(path) == 9
        assert processor.mappings[0].state_key("meter/1/total") not in processor.states
    finally:
        writer.stop()
        box.close()
