"""A backlog with untrusted event times, end to end: a real mosquitto, the mock over real HTTP, the
bridge in-process. The review's reproduction (issue 17): door openings timed 8, 6, 5 and 4 days
ago (7-day window) plus one message without a time; the too-old and timeless ones count on the
receive date, every trusted one on its own day, none "out of order"."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from mqtt_bridge.config import parse_config

from ..support.bridge import start_bridge
from ..support.config import bridge_config
from ..support.days import day_of
from ..support.mqtt import Publisher
from ..support.waiting import wait_until

pytestmark = pytest.mark.slow  # mosquitto and a bridge

DAY = 86400.0
RECEIVED = datetime(2024, 3, 10, 12, 0, tzinfo=timezone.utc).timestamp()


def test_a_backlog_with_untrusted_times_keeps_every_trusted_opening(
    mock_exist, mosquitto, tmp_path
):
    text = bridge_config(
        url=mock_exist.url,
        token=mock_exist.token,
        port=mosquitto.port,
        state_dir=tmp_path / "s",
        client_id="bridge-event-time-backlog",
        attributes=[
            {"name": "door_opens", "label": "Door opens", "group": "custom", "value_type": 0}
        ],
        mappings=[
            {
                "topic": "zigbee2mqtt/door",
                "attribute": "door_opens",
                "json_path": "contact",
                "edge": {"from": True, "to": False},
                "event_time": "last_seen",
            }
        ],
    )
    bridge = start_bridge(parse_config(text), clock=lambda: RECEIVED)
    pub = Publisher(mosquitto.port)
    try:
        for days in (8, 6, 5):  # 8 days: beyond the default 7-day window
            t = RECEIVED - days * DAY
            pub.publish("zigbee2mqtt/door", {"contact": True, "last_seen": int((t - 60) * 1000)})
            pub.publish("zigbee2mqtt/door", {"contact": False, "last_seen": int(t * 1000)})
        pub.publish("zigbee2mqtt/door", {"contact": True})  # no last_seen
        pub.publish("zigbee2mqtt/door", {"contact": False})  # an opening with no time either
        t = RECEIVED - 4 * DAY
        pub.publish("zigbee2mqtt/door", {"contact": True, "last_seen": int((t - 60) * 1000)})
        pub.publish("zigbee2mqtt/door", {"contact": False, "last_seen": int(t * 1000)})
        wait_until(lambda: bridge.outbox.counters().get("messages", 0) >= pub.sent)
        bridge.flusher.flush_once()
        ago = {n: day_of(RECEIVED - n * DAY) for n in (6, 5, 4)}
        assert mock_exist.state.values("door_opens") == {
            ago[6]: 1,
            ago[5]: 1,
            ago[4]: 1,
            day_of(RECEIVED): 2,
        }
        counters = bridge.outbox.counters()
        assert counters.get("event_time.out_of_order", 0) == 0
        assert (counters["event_time.too_old"], counters["event_time.missing"]) == (2, 2)
        assert counters["event_time.payload"] == 6
    finally:
        pub.close()
        bridge.stop()
