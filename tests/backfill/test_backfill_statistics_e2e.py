"""``exist-bridge backfill --statistics`` end to end: a year of hourly statistics for three sensors
(an energy meter in Wh, a phone's steps-today reading, a temperature) served by a websocket
stand-in for Home Assistant (``support/ha_statistics``), through the command line, into the mock
over real HTTP: every day's value exact, in ceil(days x attributes / 35) update requests."""

from __future__ import annotations

import math

import pytest

from ..support.ha_statistics import (
    DAYS,
    StatisticsServer,
    YearOfStatistics,
    backfill_a_year,
    check_the_year,
)

pytestmark = pytest.mark.slow  # a year of statistics, the mock over HTTP


@pytest.fixture
def ha():
    server = StatisticsServer().start()
    yield server
    server.stop()


def test_a_year_of_statistics_lands_exactly_in_one_request_per_35_totals(mock_exist, ha, tmp_path):
    year = YearOfStatistics()
    year.serve(ha)
    assert {len(days) for days in year.truth.values()} == {DAYS}
    http = ha.url.removesuffix("/api/websocket").replace("ws://", "http://")
    code, out = backfill_a_year(mock_exist, http, ha.token, tmp_path)
    assert code == 0, out
    check_the_year(mock_exist, year, out)
    asked = [c for c in ha.commands if c["type"] == "recorder/statistics_during_period"]
    assert len(asked) == 3 * math.ceil(DAYS / 31)  # a month of hourly rows per request
