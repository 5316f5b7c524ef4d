"""Issue 28: a group commit's SQL is per batch, never per message.

Counted with SQLite's trace callback over the real processing path (``MessageProcessor`` ->
``Outbox.commit``) and the benchmark's kind of workload (edges, updates, increments, several
attributes and topics, deadlines): the statements of one transaction (the backfilled-day check,
the totals read and upsert with their deadlines, edge states, counters, recent packet ids) are
as many for 10 messages as for 200.
"""

from __future__ import annotations

import itertools

from mqtt_bridge.config import parse_config
from mqtt_bridge.pipeline.buffer.outbox import Outbox
from mqtt_bridge.pipeline.process.mapping import build_mappings
from mqtt_bridge.pipeline.process.processor import IncomingMessage, MessageProcessor

CONFIG = """
exist: {token: t}
attributes:
  - {name: door_opens, label: Door opens, group: custom, value_type: 0}
  - {name: water_ml, label: Water ml, group: food, value_type: 0}
  - {name: office_temp, label: Office temp, group: weather, value_type: 1}
mappings:
  - {topic: "home/+/door", attribute: door_opens, json_path: contact, edge: {to: false}}
  - {topic: home/water, attribute: water_ml, json_path: flow, amount: value}
  - {topic: home/climate, attribute: office_temp, mode: update, json_path: temperature}
"""


def messages(n: int, first_mid: int) -> list[IncomingMessage]:
    kinds = itertools.cycle(
        [
            lambda i: (f"home/d{i % 4}/door", f'{{"contact": {"true" if i % 2 else "false"}}}'),
            lambda i: ("home/water", f'{{"flow": {100 + i}}}'),
            lambda i: ("home/climate", f'{{"temperature": {20 + i % 10}}}'),
        ]
    )
    out = []
    for i, kind in zip(range(n), kinds, strict=False):
        topic, payload = kind(i)
        out.append(IncomingMessage(topic, payload.encode(), qos=1, mid=first_mid + i))
    return out


def statements_of_one_commit(tmp_path, n: int) -> list[str]:
    box = Outbox(tmp_path / f"outbox-{n}.sqlite")
    processor = MessageProcessor(build_mappings(parse_config(CONFIG)), "UTC", box)
    box.commit([processor.process(m) for m in messages(12, 1)])  # rows and states exist
    commits = [processor.process(m) for m in messages(n, 100)]
    seen: list[str] = []
    box.db.set_trace_callback(seen.append)
    box.commit(commits)
    box.db.set_trace_callback(None)
    assert box.counters()["messages"] == 12 + n
    return seen


def test_a_group_commit_runs_as_many_statements_for_200_messages_as_for_10(tmp_path):
    few = statements_of_one_commit(tmp_path, 10)
    many = statements_of_one_commit(tmp_path, 200)
    verbs = [s.split()[0] for s in many]
    assert verbs[0] == "BEGIN" and verbs[-1] == "COMMIT"
    assert len(many) == len(few) <= 10, many
