"""Show what it did: one DEBUG line per message, an INFO line per flush naming what was sent,
and `status` listing each pending, sent and refused (attribute, date) with total, when and why.
The bridge runs in-process against a real mosquitto and the mock over HTTP."""

from __future__ import annotations

import io
import json
import logging

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from mqtt_bridge.cli import run as cli_run
from mqtt_bridge.config import parse_config

from ..support.bridge import start_bridge
from ..support.config import COFFEE_FRIDGE_ATTRIBUTES, COFFEE_FRIDGE_MAPPINGS, write_bridge_config
from ..support.days import today
from ..support.status_docs import documented_status_fields
from ..support.waiting import wait_until


class Setup:
    def __init__(self, mock, broker, tmp_path):
        self.path = tmp_path / "bridge.yaml"
        write_bridge_config(
            self.path,
            url=mock.url,
            token=mock.token,
            port=broker.port,
            state_dir=tmp_path / "state",
            client_id="show-bridge",
            delay=60,
            attributes=COFFEE_FRIDGE_ATTRIBUTES,
            # and a typo Exist refuses (not_found), for `status` to show
            mappings=[
                *COFFEE_FRIDGE_MAPPINGS,
                {"topic": "zigbee2mqtt/tea_button", "attribute": "cofees"},
            ],
        )
        self.bridge = start_bridge(parse_config(self.path.read_text(), str(self.path)))
        self.pub = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, client_id="show-pub"
        )
        self.pub.connect("127.0.0.1", broker.port)
        self.pub.loop_start()
        self.sent = 0

    def publish(self, topic: str, payload: str) -> None:
        self.pub.publish(topic, payload, qos=1).wait_for_publish(10)
        self.sent += 1
        wait_until(lambda: self.bridge.outbox.counters().get("messages", 0) >= self.sent)

    def status(self, *extra: str) -> str:
        out, err = io.StringIO(), io.StringIO()
        code = cli_run(["status", "-c", str(self.path), *extra], out, err)
        assert code == 0, err.getvalue()
        return out.getvalue()

    def close(self) -> None:
        self.pub.disconnect()
        self.pub.loop_stop()
        self.bridge.stop()


def test_debug_line_per_message_and_info_per_flush(mock_exist, mosquitto, tmp_path, caplog):
    setup = Setup(mock_exist, mosquitto, tmp_path)
    try:
        setup.publish("zigbee2mqtt/coffee_button", '{"action": "single"}')  # subscribed now
        with caplog.at_level(logging.DEBUG, logger="exist_bridge"):
            setup.publish("zigbee2mqtt/coffee_button", '{"action": "single"}')
            setup.publish("zigbee2mqtt/coffee_button", '{"action": "double"}')
            setup.publish("zigbee2mqtt/kitchen/fridge", '{"contact": true}')
            debug = [
                r.getMessage()
                for r in caplog.records
                if r.levelno == logging.DEBUG and r.name == "exist_bridge.ingest"
            ]
            assert debug == [
                f"zigbee2mqtt/coffee_button -> coffees +1 on {today()}",
                "zigbee2mqtt/coffee_button -> coffees: condition false",
                "zigbee2mqtt/kitchen/fridge -> fridge_opens: edge: state recorded "
                "(no previous state)",
            ]
            caplog.clear()
            setup.bridge.flusher.flush_once()
        info = [
            r.getMessage()
            for r in caplog.records
            if r.levelno == logging.INFO and r.getMessage().startswith("flush:")
        ]
        assert len(info) == 1
        assert f"(coffees {today()} = 2)" in info[0]
    finally:
        setup.close()


def test_status_lists_pending_sent_and_refused_with_why(mock_exist, mosquitto, tmp_path):
    setup = Setup(mock_exist, mosquitto, tmp_path)
    try:
        setup.publish("zigbee2mqtt/coffee_button", '{"action": "single"}')
        setup.publish("zigbee2mqtt/tea_button", "1")  # cofees: Exist answers not_found
        setup.bridge.flusher.flush_once()
        setup.bridge.write_health()
        setup.publish("zigbee2mqtt/kitchen/fridge", '{"contact": true}')
        setup.publish("zigbee2mqtt/kitchen/fridge", '{"contact": false}')  # pending, not sent
        text = setup.status()
        lines = text.splitlines()
        day = today()
        assert any(line.startswith(f"  coffees {day}: 1, sent - sent ") for line in lines), text
        assert any(
            line.startswith(f"  cofees {day}: +1, refused - refused by Exist (not_found: ")
            and "check its name" in line
            for line in lines
        ), text
        assert (
            f"  fridge_opens {day}: +1, pending - waiting: the day's value in Exist is learned "
            "first (an increment of 0), then sent" in lines
        ), text
        assert "broker:          connected to 127.0.0.1:" in text

        data = json.loads(setup.status("--json"))
        rows = {(r["attribute"], r["date"]): r for r in data["totals"]}
        assert rows[("coffees", day)]["state"] == "sent"
        assert rows[("coffees", day)]["sent_value"] == 1
        assert rows[("coffees", day)]["sent_at"] > 0
        assert rows[("cofees", day)]["state"] == "refused"
        assert rows[("cofees", day)]["code"] == "not_found"
        assert rows[("fridge_opens", day)]["state"] == "pending"
        assert rows[("fridge_opens", day)]["events"] == 1
        for row in data["totals"]:  # the fields the docs document
            assert set(row) == {
                "attribute",
                "date",
                "mode",
                "state",
                "total",
                "base_known",
                "events",
                "updated_at",
                "sent_value",
                "sent_at",
                "code",
                "error",
                "why",
            }
        assert data["broker"]["connected"] is True
        assert data["postponed"] is None
        # `accounts`: only with exist.accounts (tests/accounts/test_account_views.py)
        assert set(data) == documented_status_fields() - {"healthy", "health_problem", "accounts"}
        assert set(data["broker"]) == {
            "host",
            "port",
            "connected",
            "since",
            "last_error",
            "last_error_at",
            "failed_attempts",
            "bridge_running",
            "recorded_at",
            "client_id_clash",
            "clash_since",
            "held_back",
        }
    finally:
        setup.close()


def test_a_postponed_flush_is_the_reason_status_gives(tmp_path):
    from mqtt_bridge.diagnose import status_view
    from mqtt_bridge.exist.errors import ConnectionFailed
    from mqtt_bridge.pipeline.buffer.outbox import Commit, Effect, Outbox
    from mqtt_bridge.pipeline.output.flusher import POSTPONED_META, Flusher, Postpone

    class Down:
        def increment(self, items):
            raise ConnectionFailed("cannot reach exist.io: connection refused")

        update = increment

    box = Outbox(tmp_path / "outbox.sqlite")
    box.commit([Commit(effects=[Effect("coffees", today(), "update", 3)])])
    flusher = Flusher(box, Down(), "UTC", lambda err: Postpone(120, f"Exist unavailable: {err}"))
    flusher.flush_once()
    note = status_view.postponed(box.get_meta(POSTPONED_META))
    assert note["reason"] == "Exist unavailable: cannot reach exist.io: connection refused"
    [row] = status_view.totals(box.days(), running=True, budget={}, postponement=note)
    assert row["why"].startswith(
        "waiting: sending postponed (Exist unavailable: cannot reach exist.io: connection "
        "refused), next try in "
    )
    # once a flush goes through, the reason is cleared
    flusher.writer = type(
        "Up",
        (),
        {
            "update": lambda self, items: type("R", (), {"success": items, "failed": []})(),
            "increment": lambda self, items: type("R", (), {"success": items, "failed": []})(),
        },
    )()
    flusher.flush_once()
    assert status_view.postponed(box.get_meta(POSTPONED_META)) is None
    [row] = status_view.totals(box.days(), running=True, budget={}, postponement=None)
    assert row["state"] == "sent" and row["why"].startswith("sent ")
