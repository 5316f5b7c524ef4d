"""`exist-bridge backfill` within the request budget: a run needing more requests than an hour
allows waits (on the mock's clock) instead of drawing a 429."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from mqtt_bridge.backfill import BackfillOptions

from ..support.backfill import ZONE, config, run, write_csv, writes

pytestmark = pytest.mark.slow  # the mock over HTTP


@pytest.fixture
def mock_exist_config():
    return {
        "clock_start": datetime(2024, 6, 1, 12, 0, tzinfo=ZONE),
        "clock_frozen": True,
        "rate_limit": 12,
    }


def test_a_run_beyond_the_hourly_budget_waits_instead_of_drawing_a_429(mock_exist, tmp_path):
    days = [date(2024, 1, 1) + timedelta(days=i) for i in range(140)]
    names = ("steps", "weight", "energy_kwh", "door_opens", "tv_minutes")
    rows = [[d.isoformat(), n, str(10 + i)] for i, d in enumerate(days) for n in names]
    path = tmp_path / "days.csv"
    write_csv(path, ["date", "attribute", "value"], rows)  # 700 totals: 20 requests
    cfg = config(mock_exist, tmp_path, per_hour=12)
    clock = mock_exist.state.clock
    slept = []

    def sleep(seconds):  # the mock's clock moves instead of the test waiting
        slept.append(seconds)
        clock.advance(seconds)

    options = BackfillOptions(start=days[0], end=days[-1], csv=path)
    code, out, err = run(cfg, options, clock=clock.timestamp, sleep=sleep)
    assert code == 0, out + err
    statuses = [j["status"] for j in mock_exist.state.journal("/api/2/")]
    assert 429 not in statuses
    assert len(writes(mock_exist)) == 20
    assert sum(slept) >= 3600 * 0.9  # 20 requests + set-up at 12 an hour: over an hour waited
    assert "waiting" in err and "for the request budget" in err
    for i, d in enumerate(days):
        assert mock_exist.state.value("tv_minutes", d.isoformat()) == 10 + i
