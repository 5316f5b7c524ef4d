"""``--statistics``: Home Assistant's long-term statistics into day totals: the kinds, local days
from hourly rows (a day of 23 hours, a day Home Assistant's own midnight would split), missing
columns, units, the websocket handshake and its failures (against a real websocket server in the
test, ``support/ha_statistics``), and the REST history for what statistics lack, per day."""

from __future__ import annotations

import io
import re
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import responses

from mqtt_bridge.backfill.command import show_plan
from mqtt_bridge.backfill.ha_websocket import HomeAssistantWebSocket, websocket_url
from mqtt_bridge.backfill.plan import BackfillOptions, plan_backfill
from mqtt_bridge.backfill.sources import SourceError
from mqtt_bridge.backfill.statistics import Choice, day_totals, parse_choice, read_statistics
from mqtt_bridge.config import parse_config
from mqtt_bridge.pipeline.output.exist_output import make_client

from ..support.backfill import STATISTICS_CONFIG
from ..support.ha_statistics import StatisticsServer

ZONE = ZoneInfo("Europe/Berlin")
UTC = timezone.utc


def hours(first: datetime, count: int) -> list[datetime]:
    return [first + timedelta(hours=n) for n in range(count)]


@pytest.fixture
def ha():
    server = StatisticsServer().start()
    yield server
    server.stop()


def test_entity_choices():
    assert parse_choice("sensor.e") == Choice("sensor.e")
    assert parse_choice("sensor.e=energy") == Choice("sensor.e", "energy")
    assert parse_choice("sensor.e=energy:Change:kWh") == Choice(
        "sensor.e", "energy", "change", "kWh"
    )
    with pytest.raises(ValueError, match="no attribute"):
        parse_choice("sensor.e=:mean")


def test_websocket_url_from_home_assistants_url():
    assert websocket_url("http://ha.local:8123/") == "ws://ha.local:8123/api/websocket"
    assert websocket_url("https://ha.example") == "wss://ha.example/api/websocket"
    assert websocket_url("ws://supervisor/core/websocket") == "ws://supervisor/core/websocket"


def test_local_days_are_made_of_the_hours_that_start_on_them():
    # 2024-03-31 in Berlin has 23 hours (from 2024-03-30T23:00Z to 2024-03-31T22:00Z)
    first = datetime(2024, 3, 30, 23, tzinfo=UTC)
    rows = [
        {"start": t.timestamp() * 1000, "change": 1.0, "sum": float(n + 1), "max": n, "mean": n}
        for n, t in enumerate(hours(first, 24))
    ]
    change = day_totals(rows, "change", ZONE)
    assert change == {date(2024, 3, 31): 23.0, date(2024, 4, 1): 1.0}
    assert day_totals(rows, "max", ZONE)[date(2024, 3, 31)] == 22
    assert day_totals(rows, "mean", ZONE)[date(2024, 3, 31)] == pytest.approx(11.0)
    # the sum's increase, the hour before the first day giving the base
    assert day_totals(rows, "sum", ZONE) == {date(2024, 3, 31): 22.0, date(2024, 4, 1): 1.0}


def test_missing_columns_are_null_and_iso_starts_are_read():
    rows = [
        {"start": "2024-01-01T23:00:00+00:00", "state": 5.0},  # 00:00 local, Jan 2
        {"start": "2024-01-02T00:00:00+00:00"},  # no column at all
        {"start": "2024-01-02T01:00:00Z", "state": 7.0, "max": None},
    ]
    assert day_totals(rows, "state", ZONE) == {date(2024, 1, 2): 7.0}
    assert day_totals(rows, "max", ZONE) == {}  # a day with no value is no day
    with pytest.raises(SourceError, match="no readable start"):
        day_totals([{"start": "soon"}], "state", ZONE)


def test_read_statistics_kinds_defaults_units_and_gaps(ha):
    first = datetime(2024, 1, 1, tzinfo=ZONE)
    counter = [{"start": t, "sum": 100.0 * (n + 1)} for n, t in enumerate(hours(first, 72))]
    ha.add("sensor.energy", counter, unit="Wh", unit_class="energy", has_sum=True)
    temperature = [
        {"start": t, "mean": 20.0 + n % 2, "min": 19.0, "max": 23.0}
        for n, t in enumerate(hours(first + timedelta(days=1), 24))
    ]
    ha.add("sensor.temp", temperature, unit="°C", unit_class="temperature", has_mean=True)
    choices = [
        parse_choice("sensor.energy=energy_kwh:change:kWh"),
        parse_choice("sensor.temp=room_temp"),  # the default: mean
        parse_choice("sensor.nothing=steps:state"),
    ]
    with HomeAssistantWebSocket(ha.url, ha.token) as ws:
        read = read_statistics(
            ws, choices, date(2024, 1, 1), date(2024, 1, 3), ZONE, {"steps": 0}.get
        )
    assert read.values == {
        # the first hour's change is its sum: nothing was before it
        ("energy_kwh", "2024-01-01"): 2.4,
        ("energy_kwh", "2024-01-02"): 2.4,
        ("energy_kwh", "2024-01-03"): 2.4,
        ("room_temp", "2024-01-02"): 20.5,
    }
    assert read.uncovered == {
        Choice("sensor.temp", "room_temp", "mean"): [date(2024, 1, 1), date(2024, 1, 3)]
    }
    assert read.missing == [choices[2]]
    asked = [c for c in ha.commands if c["type"] == "recorder/statistics_during_period"]
    assert asked[0]["units"] == {"energy": "kWh"} and "units" not in asked[1]
    assert asked[0]["period"] == "hour"
    # from the hour before the first local midnight to the midnight after the last day
    assert asked[0]["start_time"] == "2023-12-31T23:00:00+01:00"
    assert asked[0]["end_time"] == "2024-01-04T00:00:00+01:00"


def test_an_integer_attribute_gets_whole_numbers(ha):
    first = datetime(2024, 1, 1, tzinfo=ZONE)
    ha.add(
        "sensor.steps",
        [{"start": t, "sum": 10.4 * (n + 1)} for n, t in enumerate(hours(first, 24))],
        unit=None,
        has_sum=True,
    )
    with HomeAssistantWebSocket(ha.url, ha.token) as ws:
        read = read_statistics(
            ws, [Choice("sensor.steps", "steps")], date(2024, 1, 1), date(2024, 1, 1), ZONE,
            {"steps": 0}.get,
        )  # fmt: skip
    assert read.values == {("steps", "2024-01-01"): 250}  # 249.6
    assert isinstance(read.values["steps", "2024-01-01"], int)


def test_a_unit_home_assistant_cannot_convert_is_one_clear_error(ha):
    ha.add("sensor.w", [], unit="st", unit_class=None, has_mean=True)
    with HomeAssistantWebSocket(ha.url, ha.token) as ws, pytest.raises(ValueError) as err:
        read_statistics(ws, [Choice("sensor.w", "weight")], date(2024, 1, 1), date(2024, 1, 1),
                        ZONE, {}.get)  # fmt: skip
    assert str(err.value) == (
        "--entity sensor.w: its statistics are in st, weight wants kg, and Home Assistant "
        "knows no conversion for it"
    )


def test_a_wrong_token_and_a_failing_command_are_one_line(ha):
    with pytest.raises(SourceError, match="refused the token"):
        HomeAssistantWebSocket(ha.url, "wrong").__enter__()
    ha.fail["recorder/list_statistic_ids"] = {"code": "unknown_error", "message": "db locked"}
    with HomeAssistantWebSocket(ha.url, ha.token) as ws, pytest.raises(SourceError) as err:
        ws.list_statistic_ids()
    assert str(err.value) == (
        f"Home Assistant's websocket API at {ha.url}: recorder/list_statistic_ids failed: "
        "unknown_error: db locked"
    )
    ha.fail["recorder/list_statistic_ids"] = "db locked"  # type: ignore[assignment]
    with HomeAssistantWebSocket(ha.url, ha.token) as ws, pytest.raises(SourceError) as err:
        ws.list_statistic_ids()
    assert str(err.value).endswith("recorder/list_statistic_ids failed: ?: db locked")
    with pytest.raises(SourceError, match=re.escape("ws://127.0.0.1:9/api/websocket: ")):
        HomeAssistantWebSocket("ws://127.0.0.1:9/api/websocket", "t", timeout=5).__enter__()


# ------------------------------------------------------------------------------ with the history

HA_REST = "http://ha.local:8123"


def plan_january_1_to_4(ha, tmp_path, entities: list[str]):
    """``plan_backfill`` of 2024-01-01..04 with ``--statistics`` (history at ``HA_REST``)."""
    cfg = parse_config(
        STATISTICS_CONFIG.format(url="http://exist.invalid", token="t", state=tmp_path / "state")
    )
    options = BackfillOptions(
        start=date(2024, 1, 1),
        end=date(2024, 1, 4),
        home_assistant=HA_REST,
        ha_token=ha.token,
        ha_websocket=ha.url,
        statistics=True,
        entities=entities,
        dry_run=True,
    )
    exist = make_client(cfg, tmp_path / "state")
    now = datetime(2024, 1, 10, 12, tzinfo=ZONE).timestamp()
    return plan_backfill(cfg, options, exist, now, io.StringIO())


@responses.activate
def test_the_history_fills_what_statistics_lack_and_the_plan_says_which_day_came_from_where(
    ha, tmp_path
):
    """Energy's statistics begin on Jan 3 (history before), the door has none (history), the
    temperature's mean has no history equivalent (left out, said so)."""
    first = datetime(2024, 1, 3, tzinfo=ZONE)
    ha.add(
        "sensor.energy",
        [{"start": t, "sum": 0.5 * (n + 1)} for n, t in enumerate(hours(first, 48))],
        unit="kWh",
        unit_class="energy",
        has_sum=True,
    )
    temperature = [{"start": t, "mean": 21.0} for t in hours(first, 48)]
    ha.add("sensor.temp", temperature, unit="°C", unit_class="temperature", has_mean=True)

    def state(entity, stamp, value):
        iso = stamp.isoformat()
        return {"entity_id": entity, "state": value, "last_changed": iso, "last_updated": iso}

    day = datetime(2024, 1, 1, tzinfo=ZONE)
    history = [
        [state("sensor.energy", day + timedelta(hours=h), str(10 + h)) for h in range(0, 48, 6)],
        [
            state("binary_sensor.door", day + timedelta(hours=h), s)
            for h, s in ((1, "off"), (8, "on"), (9, "off"), (30, "on"), (31, "off"))
        ],
    ]
    responses.get(re.compile(re.escape(HA_REST) + "/api/history/period/.*"), json=history)
    entities = [
        "sensor.energy=energy_kwh",
        "sensor.temp=room_temp",
        "binary_sensor.door=door_opens:increment",
    ]
    backfill = plan_january_1_to_4(ha, tmp_path, entities)
    assert backfill.totals.values == {
        ("energy_kwh", "2024-01-01"): 18,  # history: 10 -> 16 -> 22 -> 28 (the first a base)
        ("energy_kwh", "2024-01-02"): 24,
        ("energy_kwh", "2024-01-03"): 12.0,  # statistics: 24 hours of 0.5
        ("energy_kwh", "2024-01-04"): 12.0,
        ("room_temp", "2024-01-03"): 21.0,
        ("room_temp", "2024-01-04"): 21.0,
        ("door_opens", "2024-01-01"): 1,
        ("door_opens", "2024-01-02"): 1,
    }
    (period,) = [c for c in responses.calls]  # one history request: Jan 1 to 2 (+ the door's)
    assert "filter_entity_id=binary_sensor.door%2Csensor.energy" in period.request.url
    lines: list[str] = []
    show_plan(backfill, lines.append)
    text = "\n".join(lines)
    assert (
        "  energy_kwh: 4 day(s) 2024-01-01..2024-01-04, total 66; "
        "history: 2024-01-01..2024-01-02; statistics: 2024-01-03..2024-01-04"
    ) in text
    assert "  door_opens: 2 day(s) 2024-01-01..2024-01-02, total 2; history: " in text
    assert "  room_temp: 2 day(s) 2024-01-03..2024-01-04, total 42; statistics: " in text
    assert "left out: sensor.temp: 2 day(s) without statistics, and the history has no mean" in text


@responses.activate
def test_an_external_statistics_missing_days_are_left_out_not_asked_of_the_history(ha, tmp_path):
    """A utility's integration imports ``source:name`` statistics: no entity, so Home Assistant
    answers a history request naming one with 400 (failing the whole request)."""
    first = datetime(2024, 1, 3, tzinfo=ZONE)
    rows = [{"start": t, "sum": 0.5 * (n + 1)} for n, t in enumerate(hours(first, 48))]
    ha.add("tibber:energy", rows, unit="kWh", unit_class="energy", has_sum=True)
    backfill = plan_january_1_to_4(ha, tmp_path, ["tibber:energy=energy_kwh"])
    assert backfill.totals.values == {
        ("energy_kwh", "2024-01-03"): 12.0,
        ("energy_kwh", "2024-01-04"): 12.0,
    }
    assert len(responses.calls) == 0  # (responses would refuse it: none was made)
    assert backfill.totals.notes == [
        "left out: tibber:energy: 2 day(s) without statistics, and an external statistic "
        "(source:name) has no history"
    ]
