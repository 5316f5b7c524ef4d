"""Issue 27, item 2: reload end to end. ``exist-bridge run`` as a subprocess with a private
mosquitto and the mock over real HTTP; the configuration edited and reloaded three times
(SIGHUP with a mapping added, one removed and one changed; SIGHUP with a broken file, refused;
``exist-bridge reload`` with a broker change, which needs a restart). Exist's values are checked
exactly after each step: the new topic counted, the removed one no more, the counter's last
reading kept across the reload, nothing lost or counted twice."""

from __future__ import annotations

import json
import signal
import subprocess
import threading

import pytest

from ..support.bridge import BRIDGE_CMD, bridge_process
from ..support.mqtt import Publisher
from ..support.reload_setup import ATTRIBUTES, BELL, BUTTON, DOOR, METER, RING, Setup
from ..support.waiting import wait_until

pytestmark = pytest.mark.slow


def test_reload_adds_removes_and_changes_mappings_refuses_a_bad_file_and_names_restart_keys(
    mock_exist, mosquitto, tmp_path
):
    s = Setup(mock_exist, mosquitto, tmp_path)
    s.write(ATTRIBUTES, [METER, BUTTON, DOOR])
    log = open(s.log, "wb")  # noqa: SIM115 - closed in finally
    bridge = bridge_process(s.path, stdout=log, stderr=log)
    pub = Publisher(mosquitto.port)
    try:
        wait_until(lambda: "subscribed to" in s.text(), timeout=30)
        for topic, payload in [
            ("home/meter", {"total": 100}),  # the counter's baseline
            ("home/meter", {"total": 105}),
            ("home/button", "press"),
            ("home/button", "press"),
            ("home/door", "open"),
        ]:
            pub.publish(topic, payload)
        s.landed({"energy": 5, "button_presses": 2, "door_opens": 1})

        # 1. SIGHUP: the bell added (a new attribute, created), the door removed, the button
        # changed (counts 2 a press); the meter unchanged (moved last: keeps its last reading)
        s.write([*ATTRIBUTES, BELL], [{**BUTTON, "amount": 2}, RING, METER])
        bridge.send_signal(signal.SIGHUP)
        record = s.reloaded(None)
        assert record["result"] == "applied", record
        assert record["mappings"] == {"added": 1, "removed": 1, "changed": 1, "unchanged": 1}
        assert (record["subscribed"], record["unsubscribed"]) == (["home/bell"], ["home/door"])
        assert record["restart_needed"] == []
        assert mock_exist.state.attribute("bell_rings") is not None  # created at the reload
        for topic, payload in [
            ("home/door", "open"),  # no longer read
            ("home/meter", {"total": 112}),  # +7 against the reading before the reload
            ("home/button", "press"),
            ("home/bell", "ring"),
            ("home/bell", "ring"),
        ]:
            pub.publish(topic, payload)
        s.landed({"energy": 12, "button_presses": 4, "door_opens": 1, "bell_rings": 2})
        assert "configuration reloaded: 3 mapping(s): 1 added, 1 removed, 1 changed" in s.text()

        # 2. SIGHUP with a broken file: refused, each problem with its key and line; the bridge
        # goes on with the configuration it had
        s.write([*ATTRIBUTES, BELL], [{**BUTTON, "mode": "bogus"}, RING, METER])
        bridge.send_signal(signal.SIGHUP)
        refused = s.reloaded(record)
        assert refused["result"] == "refused"
        checked = subprocess.run(
            [*BRIDGE_CMD, "check", "-c", str(s.path)], capture_output=True, text=True, timeout=60
        )
        assert checked.returncode == 1
        assert refused["problems"] == checked.stderr.splitlines()[1:]  # check's own lines
        assert any("mappings[0].mode" in p and f"{s.path}:" in p for p in refused["problems"])
        pub.publish("home/button", "press")
        pub.publish("home/bell", "ring")
        s.landed({"energy": 12, "button_presses": 6, "door_opens": 1, "bell_rings": 3})

        # 3. `exist-bridge reload` with the broker's port changed: needs a restart, the old
        # session goes on; the door mapping comes back (its topic subscribed again)
        s.write(
            [*ATTRIBUTES, BELL],
            [{**BUTTON, "amount": 2}, RING, METER, DOOR],
            mqtt={"port": mosquitto.port + 1},
        )
        asked = subprocess.run(
            [*BRIDGE_CMD, "reload", "-c", str(s.path)], capture_output=True, text=True, timeout=90
        )
        assert asked.returncode == 0, asked.stderr
        assert "mappings 1 added, 0 removed, 0 changed, 3 unchanged" in asked.stdout
        assert "needs a restart (old value kept until then): mqtt.port" in asked.stdout
        assert "mqtt.port changed: this needs a restart" in s.text()
        pub.publish("home/door", "open")
        pub.publish("home/meter", {"total": 120})
        s.landed({"energy": 20, "button_presses": 6, "door_opens": 2, "bell_rings": 3})

        status = subprocess.run(
            [*BRIDGE_CMD, "status", "-c", str(s.path), "--json"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        shown = json.loads(status.stdout)["reload"]
        assert (shown["result"], shown["restart_needed"]) == ("applied", ["mqtt.port"])
        text = subprocess.run(
            [*BRIDGE_CMD, "status", "-c", str(s.path)], capture_output=True, text=True, timeout=60
        ).stdout
        assert "last reload applied at" in text
        assert "needs a restart (old value kept until then): mqtt.port" in text

        bridge.send_signal(signal.SIGTERM)
        assert bridge.wait(30) == 0
    finally:
        pub.close()
        if bridge.poll() is None:
            bridge.kill()
            bridge.wait(10)
        log.close()
    # nothing counted twice on the way: every update Exist saw was at most the truth
    truth = {"energy": 20, "button_presses": 6, "door_opens": 2, "bell_rings": 3}
    for entry in mock_exist.state.ledger():
        if entry.get("attribute") in truth and entry.get("after") is not None:
            assert entry["after"] <= truth[entry["attribute"]], entry


def test_reload_with_a_bad_file_says_so_without_asking_the_bridge(mock_exist, mosquitto, tmp_path):
    s = Setup(mock_exist, mosquitto, tmp_path)
    s.write(ATTRIBUTES, [{**BUTTON, "mode": "bogus"}])
    asked = subprocess.run(
        [*BRIDGE_CMD, "reload", "-c", str(s.path)], capture_output=True, text=True, timeout=60
    )
    assert asked.returncode == 1
    assert "the running bridge was not asked to reload" in asked.stderr
    assert "mappings[0].mode" in asked.stderr
    s.write(ATTRIBUTES, [BUTTON])  # valid, but no bridge runs on its state directory
    asked = subprocess.run(
        [*BRIDGE_CMD, "reload", "-c", str(s.path)], capture_output=True, text=True, timeout=60
    )
    assert asked.returncode == 1
    assert "no running bridge found on" in asked.stderr


def test_messages_during_reloads_and_a_kill_after_one_are_counted_exactly_once(
    mock_exist, mosquitto, tmp_path
):
    """A stream of button presses and meter readings while the bridge reloads again and again
    (the bell mapping added, then removed), then is SIGKILLed right after a SIGHUP and started
    again: every press counts once, and the meter's total is exactly its last reading minus its
    first (its state was never lost to a reload: a lost one would start a new baseline)."""
    s = Setup(mock_exist, mosquitto, tmp_path)
    with_bell = ([*ATTRIBUTES, BELL], [BUTTON, RING, METER])
    without_bell = (ATTRIBUTES, [METER, BUTTON])
    s.write(*without_bell)
    log = open(s.log, "wb")  # noqa: SIM115 - closed in finally
    # each batch acked 0.05 s after it is stored: messages in flight at each reload and the kill
    bridge = bridge_process(s.path, ack_delay=0.05, stdout=log, stderr=log)
    pub = Publisher(mosquitto.port)
    presses, readings = 0, []
    done = threading.Event()

    def stream() -> None:
        nonlocal presses
        while not done.is_set() or presses < 300:
            pub.publish("home/button", "press")
            presses += 1
            if presses % 10 == 0:
                readings.append(1000 + 3 * len(readings))
                pub.publish("home/meter", {"total": readings[-1]})
                pub.publish("home/bell", "ring")

    thread = threading.Thread(target=stream)
    try:
        wait_until(lambda: "subscribed to" in s.text(), timeout=30)
        thread.start()
        record = None
        for turn in range(6):
            s.write(*(with_bell if turn % 2 == 0 else without_bell))
            bridge.send_signal(signal.SIGHUP)
            record = s.reloaded(record)
            assert record["result"] == "applied", record
        s.write(*with_bell)
        bridge.send_signal(signal.SIGHUP)
        wait_until(lambda: presses % 7 == 0, timeout=10)  # a few more messages in flight
        bridge.send_signal(signal.SIGKILL)
        bridge.wait(10)
        started = s.log.stat().st_size
        bridge = bridge_process(s.path, stdout=log, stderr=log)
        wait_until(lambda: "subscribed to" in s.text()[started:], timeout=30)
        done.set()
        thread.join(60)
        assert not thread.is_alive()
        expected = {"button_presses": presses, "energy": readings[-1] - readings[0]}
        s.landed(expected)
        bridge.send_signal(signal.SIGTERM)
        assert bridge.wait(30) == 0
    finally:
        done.set()
        pub.close()
        if bridge.poll() is None:
            bridge.kill()
            bridge.wait(10)
        log.close()
