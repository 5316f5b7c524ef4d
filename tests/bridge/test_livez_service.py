"""The running bridge tells /livez which of its threads died (a real broker and the mock)."""

from __future__ import annotations

import pytest

from mqtt_bridge.config import parse_config
from mqtt_bridge.observe.state import liveness
from mqtt_bridge.service import Bridge

from ..support.config import bridge_config

pytestmark = pytest.mark.slow


def test_a_dead_writer_thread_makes_the_bridge_not_alive(mock_exist, mosquitto, tmp_path):
    text = bridge_config(
        url=mock_exist.url,
        token=mock_exist.token,
        port=mosquitto.port,
        state_dir=tmp_path / "state",
        client_id="bridge-livez",
        timezone="UTC",
        attributes=[{"template": "coffees"}],
        mappings=[{"topic": "button/+/action", "attribute": "coffees"}],
    )
    bridge = Bridge(parse_config(text))
    bridge.start()
    try:
        assert bridge.live().dead_threads == ()
        assert liveness(bridge.live()).ok
        bridge.writer.stop(timeout=10)  # the writer ends while the bridge believes it runs
        assert not bridge.writer.is_alive()
        state = bridge.live()
        assert state.phase == "running"
        assert state.dead_threads == ("exist-bridge-writer",)
        assert not liveness(state).ok
    finally:
        bridge.stop()
