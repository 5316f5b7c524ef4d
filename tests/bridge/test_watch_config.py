"""``run --watch-config``: an edited configuration file is reloaded without a signal (issue 27,
item 2's file watch, off by default), exactly as a SIGHUP would: a broken file is refused and
the running configuration stays."""

from __future__ import annotations

import pytest

from mqtt_bridge.diagnose.reload_command import last_reload
from mqtt_bridge.watching import FileWatch

from ..support.bridge import bridge_process
from ..support.mqtt import Publisher
from ..support.reload_setup import ATTRIBUTES, BELL, BUTTON, RING, Setup
from ..support.waiting import wait_until


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_change_counts_once_the_file_stays_still_for_a_look(tmp_path):
    path = tmp_path / "bridge.yaml"
    path.write_text("a: 1\n")
    clock = Clock()
    watch = FileWatch([path], interval=2, clock=clock)
    path.write_text("a: 2\n")
    assert not watch.changed()  # not time to look yet
    clock.now = 2
    assert not watch.changed()  # seen changed: is it still being written?
    path.write_text("a: 3\n")
    clock.now = 4
    assert not watch.changed()  # it was: look again
    clock.now = 6
    assert watch.changed()  # the same as the last look: one change
    clock.now = 8
    assert not watch.changed()  # reported once
    path.write_text("a: 3\n")  # rewritten with the same content: no change
    clock.now, _ = 10, watch.changed()
    clock.now = 12
    assert not watch.changed()


def test_a_file_being_replaced_is_not_a_change_until_it_is_back(tmp_path):
    path = tmp_path / "bridge.yaml"
    path.write_text("a: 1\n")
    clock = Clock()
    watch = FileWatch([path], interval=2, clock=clock)
    path.unlink()
    for now in (2, 4, 6):
        clock.now = now
        assert not watch.changed()
    path.write_text("a: 2\n")
    clock.now = 8
    assert not watch.changed()
    clock.now = 10
    assert watch.changed()


@pytest.mark.slow
def test_an_edited_file_is_applied_and_a_broken_one_refused(mock_exist, mosquitto, tmp_path):
    s = Setup(mock_exist, mosquitto, tmp_path)
    s.write(ATTRIBUTES, [BUTTON])
    log = open(s.log, "wb")  # noqa: SIM115 - closed in finally
    bridge = bridge_process(s.path, "--watch-config", stdout=log, stderr=log)
    pub = Publisher(mosquitto.port)
    try:
        wait_until(lambda: "subscribed to" in s.text(), timeout=30)
        pub.publish("home/button", "press")
        s.landed({"button_presses": 1})

        s.write([*ATTRIBUTES, BELL], [BUTTON, RING])  # saved: no signal sent
        record = s.reloaded(None)
        assert record["result"] == "applied", record
        assert record["subscribed"] == ["home/bell"]
        assert "the configuration file changed (watch_config): reloading it" in s.text()
        pub.publish("home/bell", "ring")
        pub.publish("home/button", "press")
        s.landed({"button_presses": 2, "bell_rings": 1})

        s.write([*ATTRIBUTES, BELL], [{**BUTTON, "mode": "bogus"}, RING])
        refused = s.reloaded(record)
        assert refused["result"] == "refused"
        assert any("mappings[0].mode" in p for p in refused["problems"])
        pub.publish("home/button", "press")  # the running configuration goes on
        s.landed({"button_presses": 3, "bell_rings": 1})
        assert last_reload(s.state)["result"] == "refused"
    finally:
        bridge.terminate()
        bridge.wait(30)
        log.close()
        pub.close()
