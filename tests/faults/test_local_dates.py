"""Issue 5, scenario 8: local midnight and both DST changes in the user's timezone
(Europe/Berlin: 2026-03-29 02:00 CET -> 03:00 CEST, 2026-10-25 03:00 CEST -> 02:00 CET, and a plain
winter midnight). The bridge's receive clock is injected; each instant sends one increment of a
distinct power of two (so any event on the wrong date shows in the sums) and one daily total
(last one wins per local date). The expected local dates are written out by hand, not computed
with zoneinfo, so the test does not share the code under test's idea of the calendar.
(``tests/bridge/test_bridge_e2e.py`` covers a plain midnight in Pacific/Auckland.)"""

from __future__ import annotations

from datetime import datetime

import pytest

from ..support.config import bridge_config
from ..support.faults import FaultBridge, wait_until

pytestmark = pytest.mark.slow  # mosquitto, subprocesses or seconds of work: see pyproject

# (UTC instant, the local date in Europe/Berlin)
INSTANTS = [
    ("2026-01-15T22:59:59", "2026-01-15"),  # 23:59:59 CET
    ("2026-01-15T23:00:00", "2026-01-16"),  # 00:00:00 CET
    ("2026-03-28T22:59:59", "2026-03-28"),  # 23:59:59 CET
    ("2026-03-28T23:00:00", "2026-03-29"),  # 00:00:00 CET, a 23-hour day begins
    ("2026-03-29T00:59:59", "2026-03-29"),  # 01:59:59 CET
    ("2026-03-29T01:00:00", "2026-03-29"),  # 03:00:00 CEST (02:xx never happens)
    ("2026-03-29T21:59:59", "2026-03-29"),  # 23:59:59 CEST
    ("2026-03-29T22:00:00", "2026-03-30"),  # 00:00:00 CEST
    ("2026-10-24T21:59:59", "2026-10-24"),  # 23:59:59 CEST
    ("2026-10-24T22:00:00", "2026-10-25"),  # 00:00:00 CEST, a 25-hour day begins
    ("2026-10-25T00:30:00", "2026-10-25"),  # 02:30 CEST
    ("2026-10-25T01:30:00", "2026-10-25"),  # 02:30 CET (the same wall time again)
    ("2026-10-25T22:59:59", "2026-10-25"),  # 23:59:59 CET
    ("2026-10-25T23:00:00", "2026-10-26"),  # 00:00:00 CET
]


@pytest.fixture
def mock_exist_config():
    return {"timezone": "Europe/Berlin"}


def test_events_land_on_the_users_local_date_across_midnight_and_dst(
    mock_exist, mosquitto, tmp_path
):
    state = mock_exist.state
    now = {"t": 0.0}
    text = bridge_config(
        url=mock_exist.url,
        token=mock_exist.token,
        port=mosquitto.port,
        state_dir=tmp_path / "state",
        client_id="bridge-dates",
        timezone="Europe/Berlin",
        attributes=[
            {
                "name": "weighed_events",
                "label": "Weighed events",
                "group": "custom",
                "value_type": 0,
            },
            {"template": "steps"},
        ],
        mappings=[
            {"topic": "sensor/weighed", "attribute": "weighed_events", "amount": "value"},
            {"topic": "sensor/steps", "attribute": "steps", "mode": "update"},
        ],
    )
    fb = FaultBridge(mock_exist, mosquitto, tmp_path / "state", text=text, clock=lambda: now["t"])
    weighed: dict[str, int] = {}
    steps: dict[str, int] = {}
    try:
        for i, (utc, local_date) in enumerate(INSTANTS):
            now["t"] = datetime.fromisoformat(utc + "+00:00").timestamp()
            fb.pub.publish("sensor/weighed", str(2**i))
            fb.pub.publish("sensor/steps", str(1000 + i))
            messages = 2 * (i + 1)
            wait_until(lambda m=messages: fb.counters().get("messages", 0) >= m)
            weighed[local_date] = weighed.get(local_date, 0) + 2**i
            steps[local_date] = 1000 + i  # the last total of the day wins
        fb.bridge.flusher.flush_once()
        assert fb.bridge.outbox.status()["pending_rows"] == 0
        assert state.values("weighed_events") == weighed
        assert state.values("steps") == steps
        assert fb.counters().get("events") == 2 * len(INSTANTS)
        print(
            f"\nFAULT-TABLE | 8 midnight and DST | receive clock at {len(INSTANTS)} instants "
            f"around 3 midnights and 2 DST changes (Europe/Berlin) | {2 * len(INSTANTS)} | "
            f"{len(weighed)} + {len(steps)} daily values, all on the right date | 0"
        )
    finally:
        fb.close()
