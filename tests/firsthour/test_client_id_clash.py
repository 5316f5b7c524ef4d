"""Two bridges with one mqtt.client_id (and two state dirs): the broker hands the connection back
and forth; the clash is detected, said once, shown in the link state, and the messages are held
back until one bridge is left, so none is counted by the wrong bridge. A dead bridge's retained
status is no reason to warn about a shared topic_prefix."""

from __future__ import annotations

import json
import logging
import time

from mqtt_bridge.config import parse_config
from mqtt_bridge.service import Bridge

from ..support.config import bridge_config
from ..support.mqtt import Publisher
from ..support.waiting import wait_until

TOPIC = "zigbee2mqtt/coffee_button"


def _bridge(mock, broker, tmp_path, name: str, client_id: str) -> Bridge:
    text = bridge_config(
        url=mock.url,
        token=mock.token,
        port=broker.port,
        state_dir=tmp_path / name,
        client_id=client_id,
        attributes=[{"template": "coffees"}],
        mappings=[{"topic": TOPIC, "attribute": "coffees"}],
    )
    bridge = Bridge(parse_config(text))
    bridge.start()
    bridge.link.clash.stable_after = 3.0  # the test's patience, not the product's 30 s
    return bridge


def _clash_lines(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.ERROR and "same mqtt.client_id" in r.getMessage()
    ]


def test_two_bridges_with_one_client_id_are_detected_and_hold_messages_back(
    mock_exist, mosquitto, tmp_path, caplog
):
    first = _bridge(mock_exist, mosquitto, tmp_path, "one", "exist-bridge")
    second = None
    publisher = Publisher(mosquitto.port)
    try:
        wait_until(lambda: first.link.connected)
        with caplog.at_level(logging.DEBUG, logger="exist_bridge.mqtt"):
            second = _bridge(mock_exist, mosquitto, tmp_path, "two", "exist-bridge")
            wait_until(lambda: first.link.clash.active and second.link.clash.active, timeout=60)
            lines = _clash_lines(caplog)
            assert len(lines) == 2  # one per bridge, not one per disconnection
            assert "'exist-bridge'" in lines[0] and "partial total" in lines[0]
            link = first.link.link_status()
            assert link["client_id_clash"] is True and link["clash_since"]
            assert first.status()["client_id_clash"] is True
            for _ in range(10):
                publisher.publish(TOPIC, "1")
            # let the connection change hands at least twice more with the messages out there
            connects = first.link.connects + second.link.connects
            wait_until(
                lambda: first.link.connects + second.link.connects >= connects + 2, timeout=60
            )
            assert first.outbox.counters().get("messages", 0) == 0
            assert second.outbox.counters().get("messages", 0) == 0
            records = list(caplog.records)
            last_clash = max(
                i for i, r in enumerate(records) if "same mqtt.client_id" in r.getMessage()
            )
            # after the one error, the disconnections of the clash are not a flood of warnings
            assert not [
                r
                for r in records[last_clash:]
                if r.levelno >= logging.WARNING
                and r.getMessage().startswith("disconnected from the broker")
            ]
            second.stop()
            second = None
            # one bridge left: the clash ends and every message comes to it, once
            wait_until(lambda: first.outbox.counters().get("messages", 0) >= 10, timeout=60)
            assert not first.link.clash.active
            assert first.link.link_status()["client_id_clash"] is False
        publisher.publish(TOPIC, "1")  # once this one is in, a redelivery would be too
        wait_until(lambda: first.outbox.counters().get("messages", 0) >= 11, timeout=30)
        counters = first.outbox.counters()
        assert counters["messages"] - counters.get("duplicates_ignored", 0) == 11
    finally:
        publisher.close()
        first.stop()
        if second is not None:
            second.stop()


def test_a_dead_bridges_retained_status_is_not_a_shared_prefix(
    mock_exist, mosquitto, tmp_path, caplog
):
    stale = {"client_id": "long-gone", "published_at": time.time() - 86400, "rows": 0}
    publisher = Publisher(mosquitto.port)
    publisher.publish("exist-bridge/status", json.dumps(stale), retain=True)
    with caplog.at_level(logging.DEBUG, logger="exist_bridge.mqtt"):
        bridge = _bridge(mock_exist, mosquitto, tmp_path, "alone", "bridge-alone")
        try:
            wait_until(lambda: any("is stale: ignored" in r.getMessage() for r in caplog.records))
            bridge.link.client.publish(TOPIC, "1", qos=1)
            wait_until(lambda: bridge.outbox.counters().get("messages", 0) >= 1)
            assert not [r for r in caplog.records if "too:" in r.getMessage()]
            # a live status of another bridge (not retained, recent) is still warned about
            live = {"client_id": "bridge-live", "published_at": time.time()}
            publisher.publish("exist-bridge/status", json.dumps(live))
            wait_until(lambda: any("too:" in r.getMessage() for r in caplog.records))
        finally:
            bridge.stop()
            publisher.close()
