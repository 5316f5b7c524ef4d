"""Issue 27, item 2 (reload), the parts without a broker: what a reload may change live and what
needs a restart, how the mappings are swapped in the processor (per-topic state kept by
``state_id``, the rest forgotten on disk too), the subscriptions changed on a live session, and a
refused file leaving the running configuration as it was. End to end: test_reload_e2e.py."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from types import SimpleNamespace

import yaml

from mqtt_bridge.accounts import Account
from mqtt_bridge.config import ConfigError, Problem, parse_config
from mqtt_bridge.config.changes import live_config, restart_needed
from mqtt_bridge.diagnose.reload_command import reload_lines
from mqtt_bridge.observe import Tally
from mqtt_bridge.pipeline.buffer.outbox import Outbox
from mqtt_bridge.pipeline.input.mqtt import BrokerLink
from mqtt_bridge.pipeline.process.mapping import build_mappings
from mqtt_bridge.pipeline.process.processor import IncomingMessage, MessageProcessor
from mqtt_bridge.reloading import Reloader, mapping_diff, reload_bridge

ATTRIBUTES = [
    {"name": "meter_a", "label": "Meter a", "group": "custom", "value_type": 0},
    {"name": "door_opens", "label": "Door opens", "group": "custom", "value_type": 0},
]
METER = {"topic": "house/meter", "attribute": "meter_a", "mode": "counter", "json_path": "a"}
DOOR = {"topic": "house/door", "attribute": "door_opens", "edge": {"from": True, "to": False}}
BUTTON = {"topic": "house/button", "attribute": "door_opens"}


def config(mappings: list[dict], mqtt: dict | None = None, bridge: dict | None = None):
    return parse_config(
        yaml.safe_dump(
            {
                "exist": {"token": "t"},
                "mqtt": {"host": "broker", **(mqtt or {})},
                "bridge": {"state_dir": "state", **(bridge or {})},
                "attributes": ATTRIBUTES,
                "mappings": mappings,
            }
        )
    )


def test_connection_keys_need_a_restart_and_keep_their_old_value():
    running = config([METER])
    new = config(
        [METER, BUTTON],
        mqtt={"host": "elsewhere", "client_id": "other"},
        bridge={"state_dir": "other", "event_delay": 5},
    )
    assert restart_needed(running, new) == ["mqtt.host", "mqtt.client_id", "bridge.state_dir"]
    live = live_config(running, new)
    assert (live.mqtt.host, live.mqtt.client_id) == ("broker", "exist-bridge")
    assert live.bridge.state_dir == Path("state")
    assert live.bridge.event_delay == 5  # a live key: applied
    assert [m.topic for m in live.mappings] == ["house/meter", "house/button"]
    assert restart_needed(running, config([BUTTON], bridge={"event_delay": 5})) == []


def test_a_changed_token_needs_a_restart():
    running = config([METER])
    new = parse_config(
        yaml.safe_dump(
            {
                "exist": {"token": "other"},
                "mqtt": {"host": "broker"},
                "bridge": {"state_dir": "state"},
                "attributes": ATTRIBUTES,
                "mappings": [METER],
            }
        )
    )
    assert restart_needed(running, new) == ["exist.token"]


def test_mapping_diff_by_what_each_mapping_reads():
    old = build_mappings(config([METER, DOOR, BUTTON]))
    counted_twice = {**BUTTON, "amount": 2}
    new = build_mappings(config([{**METER, "json_path": "b"}, counted_twice, DOOR]))
    diff = mapping_diff(old, new)
    assert [m.spec.json_path for m in diff["added"]] == ["b"]
    assert [m.spec.json_path for m in diff["removed"]] == ["a"]
    assert [m.spec.topic for m in diff["changed"]] == ["house/button"]
    assert [m.spec.topic for m in diff["unchanged"]] == ["house/door"]  # moved: the same


def test_replacing_mappings_keeps_unchanged_states_and_forgets_the_others(tmp_path):
    box = Outbox(tmp_path / "outbox.sqlite")
    processor = MessageProcessor(build_mappings(config([METER, DOOR])), "UTC", box)
    for mid, (topic, payload) in enumerate(
        [("house/meter", b'{"a": 100}'), ("house/door", b"true")], start=1
    ):
        box.commit([processor.process(IncomingMessage(topic, payload, 1, mid))])
    assert len(box.edge_states()) == 2

    # the door mapping now reads another topic; the meter's stays as it was, moved to the end
    moved_door = {**DOOR, "topic": "house/front_door"}
    forgotten = processor.replace_mappings(build_mappings(config([moved_door, METER])))
    assert [key.rsplit(" ", 1)[1] for key in forgotten] == ["house/door"]

    # the meter counts against its last reading (not a new baseline)
    commit = processor.process(IncomingMessage("house/meter", b'{"a": 107}', 1, 3))
    assert [(e.attribute, e.value) for e in commit.effects] == [("meter_a", 7)]
    assert commit.dropped == forgotten  # forgotten on disk with the next commit
    box.commit([commit])
    assert [key.rsplit(" ", 1)[1] for key in box.edge_states()] == ["house/meter"]
    # the removed topic is no longer counted; the new one is, from a first state
    assert processor.process(IncomingMessage("house/door", b"false", 1, 4)).effects == []
    box.close()


def test_forgotten_states_leave_the_disk_with_an_unmatched_message_too(tmp_path):
    box = Outbox(tmp_path / "outbox.sqlite")
    processor = MessageProcessor(build_mappings(config([DOOR])), "UTC", box)
    box.commit([processor.process(IncomingMessage("house/door", b"true", 1, 1))])
    processor.replace_mappings(build_mappings(config([BUTTON])))
    commit = processor.process(IncomingMessage("nobody/reads", b"x", 1, 2))
    box.commit([commit])
    assert box.edge_states() == {}
    box.close()


class FakeClient:
    def __init__(self):
        self.calls: list[tuple[str, list[str]]] = []
        self.mid = 0

    def subscribe(self, topics):
        self.mid += 1
        self.calls.append(("subscribe", [t for t, _ in topics]))
        return 0, self.mid

    def unsubscribe(self, topics):
        self.calls.append(("unsubscribe", list(topics)))
        return 0, None


def test_set_topics_changes_the_live_subscriptions_only(caplog):
    link = BrokerLink.__new__(BrokerLink)
    link.topics, link.qos, link.connected, link.subacks = ["a", "b"], 1, True, []
    link._subscribing, link._subscribing_lock = {}, threading.Lock()
    link.client = FakeClient()
    assert link.set_topics(["b", "c", "c"]) == (["c"], ["a"])
    assert link.client.calls == [("unsubscribe", ["a"]), ("subscribe", ["c"])]
    assert link.topics == ["b", "c"]  # what a reconnect subscribes to

    caplog.set_level(logging.INFO, logger="exist_bridge.mqtt")
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.reasoncodes import ReasonCode

    link._on_subscribe(None, None, 1, [ReasonCode(PacketTypes.SUBACK, identifier=1)], None)
    assert "subscribed to c" in [r.getMessage() for r in caplog.records]  # that SUBACK's topic

    link.connected = False  # while disconnected: nothing sent, the next connect subscribes
    assert link.set_topics(["d"]) == (["d"], ["b", "c"])
    assert len(link.client.calls) == 2


class StandInExist:
    def __init__(self):
        self.bootstraps = 0
        self.specs: list[str] = []

    def set_attributes(self, config):
        self.specs = [a.name for a in config.attributes]

    def bootstrap(self):
        self.bootstraps += 1

    def value_type(self, name):
        return None


def stand_in_bridge(tmp_path, running):
    box = Outbox(tmp_path / "outbox.sqlite")
    mappings = build_mappings(running)
    exist = StandInExist()
    return SimpleNamespace(
        config=running,
        mappings=mappings,
        exist=exist,
        accounts={"": Account(running.accounts[0], exist)},
        mappings_for=build_mappings,
        processor=MessageProcessor(mappings, "UTC", box),
        link=None,
        outbox=box,
        config_lock=threading.Lock(),
        tally=Tally(),
        last_reload=None,
    )


def test_a_bad_file_is_refused_with_check_s_messages_and_nothing_changes(tmp_path, caplog):
    bridge = stand_in_bridge(tmp_path, config([METER]))
    before = bridge.processor.mappings

    def load():
        raise ConfigError([Problem("mappings[0]", 7, "bad")], "bridge.yaml")

    caplog.set_level(logging.INFO, logger="exist_bridge")
    outcome = reload_bridge(bridge, load)
    assert outcome["result"] == "refused"
    assert outcome["problems"] == ["bridge.yaml:7: mappings[0]: bad"]
    assert bridge.processor.mappings is before and bridge.exist.bootstraps == 0
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert "reload: bridge.yaml:7: mappings[0]: bad" in errors
    assert any("keeps running with the configuration it had" in e for e in errors)
    assert reload_lines(outcome, "last reload")[1] == "  bridge.yaml:7: mappings[0]: bad"
    bridge.outbox.close()


def test_a_valid_file_is_applied_and_attributes_bootstrapped(tmp_path):
    bridge = stand_in_bridge(tmp_path, config([METER]))
    bridge.tally.message(0, "received")
    outcome = reload_bridge(bridge, lambda: config([METER, BUTTON], mqtt={"port": 1884}))
    assert outcome["result"] == "applied"
    assert outcome["restart_needed"] == ["mqtt.port"]
    assert outcome["mappings"] == {"added": 1, "removed": 0, "changed": 0, "unchanged": 1}
    assert bridge.exist.bootstraps == 1 and bridge.exist.specs == ["meter_a", "door_opens"]
    assert [m.spec.topic for m in bridge.processor.mappings] == ["house/meter", "house/button"]
    assert bridge.config.mqtt.port == 1883  # kept until a restart
    assert bridge.tally.messages() == {}  # per-mapping counts start again: indexes may move
    lines = reload_lines(outcome)
    assert lines[0].endswith("mappings 1 added, 0 removed, 0 changed, 1 unchanged")
    assert lines[-1] == "  needs a restart (old value kept until then): mqtt.port"
    assert reload_lines(outcome, "last reload")[0].startswith("last reload applied at ")
    bridge.outbox.close()


def test_check_errors_refuse_the_reload(tmp_path):
    bridge = stand_in_bridge(tmp_path, config([METER]))
    broken = config([METER])
    broken.check_errors.append("bridge.yaml:3: mappings[0]: a problem check reports")
    outcome = reload_bridge(bridge, lambda: broken)
    assert outcome["result"] == "refused"
    assert outcome["problems"] == ["bridge.yaml:3: mappings[0]: a problem check reports"]


def test_pending_totals_are_untouched_by_a_reload(tmp_path):
    bridge = stand_in_bridge(tmp_path, config([METER, BUTTON]))
    box = bridge.outbox
    box.commit([bridge.processor.process(IncomingMessage("house/button", b"x", 1, 1))])
    pending = box.pending()
    assert len(pending) == 1
    reload_bridge(bridge, lambda: config([METER]))  # the button's mapping removed
    assert box.pending() == pending
    box.close()


def test_an_error_while_applying_is_recorded_and_never_ends_the_bridge(tmp_path, caplog):
    bridge = stand_in_bridge(tmp_path, config([METER]))
    written = []
    bridge.write_health = lambda: written.append(bridge.last_reload)

    def refuse_to_bootstrap(config):
        raise RuntimeError("the stand-in breaks")

    bridge.exist.set_attributes = refuse_to_bootstrap
    reloader = Reloader(lambda: config([METER, BUTTON]))
    assert reloader.apply_if_asked(bridge) is None  # not asked
    reloader.ask()
    outcome = reloader.apply_if_asked(bridge)
    assert outcome is not None and outcome["result"] == "failed"
    assert written == [outcome] and bridge.last_reload is outcome
    assert reload_lines(outcome)[1] == "  the stand-in breaks"
    assert reloader.apply_if_asked(bridge) is None  # asked once, done once
    bridge.outbox.close()


def test_reload_command_says_when_the_bridge_cannot_be_signalled(tmp_path, monkeypatch, capsys):
    from mqtt_bridge.cli import main
    from mqtt_bridge.diagnose import reload_command

    path = tmp_path / "bridge.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "exist": {"token": "t"},
                "bridge": {"state_dir": str(tmp_path / "state")},
                "attributes": ATTRIBUTES,
                "mappings": [METER],
            }
        )
    )
    monkeypatch.setattr(reload_command, "lock_holder", lambda state_dir: (True, "pid 4242"))

    def not_yours(pid, sig):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(reload_command.os, "kill", not_yours)
    assert main(["reload", "-c", str(path)]) == 1
    err = capsys.readouterr().err
    assert "can't signal the bridge (pid 4242): Operation not permitted" in err
    assert "Traceback" not in err
