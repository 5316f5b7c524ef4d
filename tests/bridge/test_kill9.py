"""No loss, no double count when ``exist-bridge run`` is SIGKILLed at random moments.

The mock applies each update and only then answers, 0.3 s later, so many kills fall between a
write landing and the bridge recording it. The broker holds what the dead bridge hadn't
acknowledged. (The fault suite runs a longer version of this with more kills and two dates.)
"""

from __future__ import annotations

import random
import signal
import sqlite3
import threading
import time
from collections import Counter

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from mqtt_bridge.pipeline.buffer.rules import PENDING

from ..support.bridge import bridge_process
from ..support.config import write_bridge_config
from ..support.faults import FAULT_ATTRIBUTES, FAULT_MAPPINGS, TOPICS
from ..support.outbox_runs import stored_messages
from ..support.waiting import wait_until

pytestmark = pytest.mark.slow  # mosquitto, subprocesses or seconds of work: see pyproject


def start_bridge(config_path, log):
    # each batch is acked 0.3 s after it is stored: a window for kills between store and ack
    return bridge_process(config_path, ack_delay=0.3, stdout=log, stderr=log)


def test_kill_9_loses_nothing_and_counts_nothing_twice(mock_exist, mosquitto, tmp_path):
    rng = random.Random(20261123)
    config = tmp_path / "bridge.yaml"
    write_bridge_config(
        config,
        url=mock_exist.url,
        token=mock_exist.token,
        port=mosquitto.port,
        state_dir=tmp_path / "state",
        client_id="bridge-kill9",
        delay=1,
        attributes=FAULT_ATTRIBUTES,
        mappings=FAULT_MAPPINGS,
    )
    mock_exist.state.add_fault(
        "/api/2/attributes/update/", mode="slow_response", latency=0.3, count=None
    )
    log = open(tmp_path / "bridge.log", "wb")  # noqa: SIM115 - closed in finally
    bridge = start_bridge(config, log)

    truth: Counter[str] = Counter()
    publisher = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="pub")
    publisher.connect("127.0.0.1", mosquitto.port)
    publisher.loop_start()
    events = 600  # at least; the stream goes on until the kills are done, so every kill
    kills_done = threading.Event()  # can find messages in flight
    pick = random.Random(rng.random())  # the stream's own generator (it runs in a thread)

    def publish() -> None:
        i = 0
        while i < events or not kills_done.is_set():
            topic = pick.choice(sorted(TOPICS))
            publisher.publish(topic, f'{{"n": {i}}}', qos=1).wait_for_publish(10)
            truth[TOPICS[topic]] += 1
            i += 1
            if i % 20 == 0:
                time.sleep(0.05)

    kills = 0
    last_start = 0
    try:
        # first start: bootstrapped and subscribed (else the first messages have no session)
        wait_until(lambda: "subscribed to" in (tmp_path / "bridge.log").read_text(), timeout=30)
        stream = threading.Thread(target=publish)
        stream.start()
        while kills < 8:
            if kills % 4 == 3:
                time.sleep(rng.uniform(0.3, 1.2))  # anywhere
            elif kills % 2:  # right after messages were stored, before they are acknowledged
                seen = stored_messages(tmp_path / "state")
                deadline = time.monotonic() + 5
                while stored_messages(tmp_path / "state") <= seen and time.monotonic() < deadline:
                    time.sleep(0.01)
            else:  # right after an update was applied, before its (delayed) answer arrives
                seen = len(mock_exist.state.ledger())
                deadline = time.monotonic() + 5
                while len(mock_exist.state.ledger()) == seen and time.monotonic() < deadline:
                    time.sleep(0.01)
            bridge.send_signal(signal.SIGKILL)
            bridge.wait(10)
            kills += 1
            last_start = (tmp_path / "bridge.log").stat().st_size
            bridge = start_bridge(config, log)
        kills_done.set()
        stream.join()

        def landed() -> dict[str, int]:
            out: Counter[str] = Counter()
            for name in TOPICS.values():
                for value in mock_exist.state.values(name).values():
                    out[name] += value or 0
            return dict(out)

        def quiet() -> bool:  # everything the last bridge holds is confirmed delivered
            db = sqlite3.connect(tmp_path / "state" / "outbox.sqlite")
            try:
                return not db.execute(f"SELECT 1 FROM totals WHERE {PENDING}").fetchall()
            except sqlite3.Error:
                return False
            finally:
                db.close()

        def up() -> bool:  # the last bridge started has subscribed (its signal handler is set)
            return "subscribed to" in (tmp_path / "bridge.log").read_text()[last_start:]

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (up() and landed() == dict(truth) and quiet()):
            time.sleep(0.2)
        bridge.send_signal(signal.SIGTERM)
        assert bridge.wait(30) == 0
        assert sum(truth.values()) >= events and kills >= 8
        assert landed() == dict(truth), (tmp_path / "bridge.log").read_text()[-3000:]
        # the bridge never sends a real increment: only 0s, to learn a day's starting value
        ledger = mock_exist.state.ledger()
        assert {e["value"] for e in ledger if e["op"] == "increment"} <= {0}
        # and no update ever overshot the truth (which a double count would)
        for entry in ledger:
            if entry["op"] == "update":
                assert entry["after"] <= truth[entry["attribute"]]
        # the dangerous windows were really hit: totals re-sent after a kill mid-write, and
        # messages redelivered by the broker after a kill between storing and acking them
        assert any(e["op"] == "update" and e["before"] == e["after"] for e in ledger)
        db = sqlite3.connect(tmp_path / "state" / "outbox.sqlite")
        counters = dict(db.execute("SELECT name, value FROM counters"))
        db.close()
        assert counters.get("duplicates_ignored", 0) > 0, counters
    finally:
        bridge.kill()
        log.close()
        publisher.disconnect()
        publisher.loop_stop()
