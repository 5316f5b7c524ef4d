"""``exist-bridge backfill --statistics`` end to end: a year of hourly statistics for three sensors
(an energy meter in Wh, a phone's steps-today reading, a temperature) served by a websocket
stand-in for Home Assistant (``support/ha_statistics``), through the command line, into the mock
over real HTTP: every day's value exact, in ceil(days x attributes / 35) update requests."""

from __future__ import annotations

import io
import math
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from mqtt_bridge.cli import run as cli_run

from ..support.backfill import STATISTICS_CONFIG, writes
from ..support.ha_statistics import StatisticsServer

pytestmark = pytest.mark.slow  # a year of statistics, the mock over HTTP

ZONE = ZoneInfo("Europe/Berlin")
FIRST, DAYS = date(2023, 1, 1), 365  # both clock changes

ENTITIES = [
    "sensor.energy=energy_kwh:change:kWh",  # a meter in Wh, Exist's attribute in kWh
    "sensor.phone_steps=steps:max",  # steps today: the day's highest reading is its total
    "sensor.temperature=room_temp",  # a mean (the metadata's default)
]


class Year:
    """Hourly statistics from the evening before ``FIRST``, and each local day's truth."""

    def __init__(self) -> None:
        self.energy: list[dict] = []
        self.steps: list[dict] = []
        self.temperature: list[dict] = []
        self.truth: dict[str, dict[str, float]] = {"energy_kwh": {}, "steps": {}, "room_temp": {}}
        start = datetime.combine(FIRST, datetime.min.time(), ZONE) - timedelta(hours=3)
        end = datetime.combine(FIRST + timedelta(days=DAYS), datetime.min.time(), ZONE)
        total, today, hour = 5_000_000.0, 0, start.astimezone(timezone.utc)
        by_day: dict[str, list[tuple[float, int, float]]] = {}
        n = 0
        while hour < end:
            local = hour.astimezone(ZONE)
            if local.hour == 0:
                today = 0  # the phone's counter starts again at local midnight
            added = 40.0 * ((n * 7) % 13)  # Wh this hour
            total += added
            today += (n * 31) % 400
            mean = round(15 + 8 * math.sin(n / 9), 3)
            self.energy.append({"start": hour, "sum": total, "state": total})
            self.steps.append({"start": hour, "max": today, "min": today, "mean": today})
            self.temperature.append({"start": hour, "mean": mean, "min": mean - 1, "max": mean + 1})
            by_day.setdefault(local.date().isoformat(), []).append((added, today, mean))
            hour += timedelta(hours=1)
            n += 1
        for day, rows in by_day.items():
            if day < FIRST.isoformat():
                continue
            self.truth["energy_kwh"][day] = round(sum(r[0] for r in rows) / 1000, 6)
            self.truth["steps"][day] = max(r[1] for r in rows)
            self.truth["room_temp"][day] = round(sum(r[2] for r in rows) / len(rows), 6)

    def serve(self, ha: StatisticsServer) -> None:
        ha.add("sensor.energy", self.energy, unit="Wh", unit_class="energy", has_sum=True)
        ha.add("sensor.phone_steps", self.steps, unit="steps", has_mean=True)
        ha.add(
            "sensor.temperature",
            self.temperature,
            unit="°C",
            unit_class="temperature",
            has_mean=True,
        )


@pytest.fixture
def ha():
    server = StatisticsServer().start()
    yield server
    server.stop()


def test_a_year_of_statistics_lands_exactly_in_one_request_per_35_totals(mock_exist, ha, tmp_path):
    year = Year()
    year.serve(ha)
    assert {len(days) for days in year.truth.values()} == {DAYS}
    config = tmp_path / "bridge.yaml"
    config.write_text(
        STATISTICS_CONFIG.format(
            url=mock_exist.url, token=mock_exist.token, state=tmp_path / "state"
        )
    )
    (tmp_path / "ha_token").write_text(ha.token + "\n")
    args = [
        "backfill",
        "-c",
        str(config),
        "--from",
        FIRST.isoformat(),
        "--to",
        (FIRST + timedelta(days=DAYS - 1)).isoformat(),
        "--home-assistant",
        ha.url.removesuffix("/api/websocket").replace("ws://", "http://"),
        "--ha-token-file",
        str(tmp_path / "ha_token"),
        "--statistics",
        *(a for e in ENTITIES for a in ("--entity", e)),
    ]
    out, err = io.StringIO(), io.StringIO()
    assert cli_run(args, out, err) == 0, out.getvalue() + err.getvalue()
    for attribute, days in year.truth.items():
        assert mock_exist.state.values(attribute) == pytest.approx(days), attribute
    requests = math.ceil(DAYS * 3 / 35)
    assert len(writes(mock_exist)) == requests == 32
    assert f"sent {DAYS * 3} total(s) in {requests} request(s)" in out.getvalue()
    assert "statistics: 2023-01-01..2023-12-31" in out.getvalue()
    assert "history:" not in out.getvalue()  # nothing asked of the REST history
    asked = [c for c in ha.commands if c["type"] == "recorder/statistics_during_period"]
    assert len(asked) == 3 * math.ceil(DAYS / 31)  # a month of hourly rows per request
