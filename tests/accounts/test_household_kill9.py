"""A household's bridge (two Exist accounts, mappings of both reading the same topics) SIGKILLed at
random moments: each account ends with exactly its truth, no update ever overshoots it.

``exist-bridge run`` as a subprocess, real mosquitto, the mock over HTTP with two users (alice,
its default user, and bob with his own token). The mock applies each update and answers 0.3 s
later, and the bridge acknowledges each stored batch 0.3 s after storing it, so kills fall
between an update applied and its answer, and between a message stored and its acknowledgement
(the broker then redelivers it: one message, two accounts, each must count it once).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter

import pytest

from .household import add_bob
from .kills import KillRun, household_file, landed, outbox_counters

pytestmark = pytest.mark.slow  # mosquitto, subprocesses or seconds of work: see pyproject

# topic -> (attribute, the accounts it counts for)
TOPICS = {
    "button/coffee": ("coffees", ("alice", "bob")),
    "zigbee2mqtt/fridge": ("fridge_opens", ("alice", "bob")),
    "zigbee2mqtt/door": ("door_opens", ("alice",)),
    "button/bob": ("coffees", ("bob",)),
}
MAPPINGS = [
    {"topic": topic, "attribute": attribute, "account": account}
    for topic, (attribute, accounts) in TOPICS.items()
    for account in accounts
]


def test_kill_9_in_a_household_loses_nothing_and_counts_nothing_twice(
    mock_exist, mosquitto, tmp_path
):
    rng = random.Random(20261207)
    bob_token = add_bob(mock_exist)
    users = {"alice": mock_exist.state.config.username, "bob": "bob"}
    config = household_file(mock_exist, mosquitto.port, tmp_path, bob_token, MAPPINGS)
    mock_exist.state.add_fault(
        "/api/2/attributes/update/", mode="slow_response", latency=0.3, count=None
    )
    run = KillRun(config, tmp_path, mosquitto.port)
    truth: dict[str, Counter[str]] = {name: Counter() for name in users}
    events = 400  # at least; the stream goes on until the kills are done
    kills_done = threading.Event()
    pick = random.Random(rng.random())  # the stream's own generator (it runs in a thread)

    def publish() -> None:
        i = 0
        while i < events or not kills_done.is_set():
            topic = pick.choice(sorted(TOPICS))
            run.publish(topic, f'{{"n": {i}}}')
            attribute, accounts = TOPICS[topic]
            for account in accounts:
                truth[account][attribute] += 1
            i += 1
            if i % 20 == 0:
                time.sleep(0.05)

    try:
        run.wait_up()
        stream = threading.Thread(target=publish)
        stream.start()
        for kill in range(8):
            if kill % 4 == 3:
                time.sleep(rng.uniform(0.3, 1.2))  # anywhere
            elif kill % 2:  # right after messages were stored, before they are acknowledged
                run.wait_stored()
            else:  # right after an update was applied (either user's), before its answer
                run.wait_applied(mock_exist)
            run.kill_and_restart()
        kills_done.set()
        stream.join()
        expected = {name: dict(truth[name]) for name in users}

        def done() -> bool:
            got = {name: landed(mock_exist, user) for name, user in users.items()}
            return got == expected and run.quiet()

        run.settle(done)
        run.stop()
        assert run.published >= events and run.kills >= 8
        for name, user in users.items():
            assert landed(mock_exist, user) == expected[name], (name, run.tail())
            ledger = mock_exist.state.ledger(username=user)
            assert ledger, name
            # the bridge never sends a real increment: only 0s, to learn a day's starting value
            assert {e["value"] for e in ledger if e["op"] == "increment"} <= {0}
            # and no update of this account ever overshot its truth (a double count would)
            for entry in ledger:
                if entry["op"] == "update":
                    assert entry["after"] <= expected[name][entry["attribute"]], (name, entry)
        # the dangerous windows were really hit: totals re-sent after a kill mid-write, and
        # messages redelivered by the broker after a kill between storing and acking them
        everything = mock_exist.state.ledger()
        assert any(e["op"] == "update" and e["before"] == e["after"] for e in everything)
        counters = outbox_counters(tmp_path / "state")
        assert counters.get("duplicates_ignored", 0) > 0, counters
    finally:
        run.close()
