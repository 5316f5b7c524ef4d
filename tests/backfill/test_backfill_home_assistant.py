"""``exist-bridge backfill --statistics`` against a real Home Assistant Core (2024.3.3, installed
once into a cached virtualenv: ``support/home_assistant``): a year of hourly statistics for three
sensors imported with ``recorder/import_statistics``, backfilled through the command line into
the mock, every day's value compared. The same year and the same checks as the websocket
stand-in's end-to-end test, so the stand-in is held to what Home Assistant does."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from ..support.extras import skip_or_fail
from ..support.ha_statistics import YearOfStatistics, backfill_a_year, check_the_year
from ..support.home_assistant import HomeAssistant, Unavailable, install_seconds, venv
from ..support.waiting import wait_until

pytestmark = pytest.mark.slow  # installs (once) and starts Home Assistant

MONTH = 24 * 31  # hourly rows per import_statistics command


@pytest.fixture
def home_assistant(tmp_path):
    started = time.monotonic()
    try:
        home = venv()
    except Unavailable as err:
        skip_or_fail(f"Home Assistant {err}")
    print(f"Home Assistant's virtualenv: {time.monotonic() - started:.0f} s here "
          f"(its install took {install_seconds(home)} s)")  # fmt: skip
    ha = HomeAssistant(tmp_path / "home-assistant")
    try:
        ha.start(home)
    except Unavailable as err:
        ha.stop()
        pytest.fail(str(err))
    yield ha
    ha.stop()


def test_a_year_of_real_home_assistant_statistics_lands_exactly(
    mock_exist, home_assistant, tmp_path
):
    year = YearOfStatistics()
    metadata, rows = year.metadata(), year.rows()
    for statistic_id, hours in rows.items():
        for n in range(0, len(hours), MONTH):
            home_assistant.import_statistics(metadata[statistic_id], hours[n : n + MONTH])
    home_assistant.wait_for_recorder()  # it imports in its own thread, a task at a time
    last = max(r["start"] for hours in rows.values() for r in hours)

    def imported() -> bool:  # (the last task may still be under way)
        (got,) = home_assistant.websocket(
            {
                "type": "recorder/statistics_during_period",
                "start_time": last.isoformat(),
                "end_time": (last + timedelta(hours=1)).isoformat(),
                "statistic_ids": list(rows),
                "period": "hour",
            }
        )
        return set(got) == set(rows)

    wait_until(imported, timeout=60, interval=0.5, message="the statistics were not imported")
    code, out = backfill_a_year(mock_exist, home_assistant.url, home_assistant.token, tmp_path)
    assert code == 0, out
    check_the_year(mock_exist, year, out)
