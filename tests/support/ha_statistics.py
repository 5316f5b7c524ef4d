"""A stand-in for Home Assistant's websocket API, serving recorder statistics: a real websocket
server on a free loopback port (``websockets``' own), in a thread of the test.

It does what the bridge relies on, as Home Assistant 2024.3 does it (checked against a real one
in tests/backfill/test_backfill_home_assistant.py): the ``auth_required`` / ``auth`` / ``auth_ok``
handshake (``auth_invalid`` for a wrong token), ``recorder/list_statistic_ids``, and
``recorder/statistics_during_period`` with ``period: hour``: rows whose start lies in
[``start_time``, ``end_time``), ``start``/``end`` in epoch milliseconds, only the asked ``types``,
a column that is empty for the whole statistic left out (as Home Assistant does since 2023.6),
``change`` as the increase of ``sum`` since the row before (the one before the period too), and
``units`` converted for the few units the tests use."""

from __future__ import annotations

import io
import json
import math
import threading
from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from websockets.sync.server import ServerConnection, serve

from mqtt_bridge.cli import run as cli_run

from .backfill import STATISTICS_CONFIG, writes

# unit class -> unit -> factor to the class's base unit (a small part of Home Assistant's)
CONVERSIONS = {
    "energy": {"Wh": 1.0, "kWh": 1000.0, "MWh": 1_000_000.0},
    "distance": {"m": 1.0, "km": 1000.0},
    "mass": {"g": 1.0, "kg": 1000.0},
}
COLUMNS = ("mean", "min", "max", "state", "sum")
ZONE = ZoneInfo("Europe/Berlin")
FIRST, DAYS = date(2023, 1, 1), 365  # a year with both clock changes
# the three sensors' --entity arguments for YearOfStatistics
YEAR_ENTITIES = [
    "sensor.energy=energy_kwh:change:kWh",  # a meter in Wh, Exist's attribute in kWh
    "sensor.phone_steps=steps:max",  # steps today: the day's highest reading is its total
    "sensor.temperature=room_temp",  # a mean (the metadata's default)
]


class StatisticsServer:
    """``add()`` statistics (hourly rows), ``start()``, then ``url`` and ``token``; ``commands``
    is the journal of the commands received (without the handshake)."""

    def __init__(self, token: str = "ha-long-lived-token"):
        self.token = token
        self.metadata: dict[str, dict[str, Any]] = {}
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self.commands: list[dict[str, Any]] = []
        self.fail: dict[str, dict[str, str]] = {}  # command type -> the error to answer with
        self._server = serve(self._session, "127.0.0.1", 0)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self._server.socket.getsockname()[1]}/api/websocket"

    def start(self) -> StatisticsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)

    def add(
        self,
        statistic_id: str,
        rows: list[dict[str, Any]],
        *,
        unit: str | None,
        unit_class: str | None = None,
        has_sum: bool = False,
        has_mean: bool = False,
        name: str | None = None,
    ) -> None:
        """A statistic and its hourly rows (``start``: an aware datetime on the hour, and any of
        mean, min, max, state, sum), as ``recorder/import_statistics`` takes them."""
        self.metadata[statistic_id] = {
            "statistic_id": statistic_id,
            "display_unit_of_measurement": unit,
            "has_mean": has_mean,
            "has_sum": has_sum,
            "name": name,
            "source": "recorder",
            "statistics_unit_of_measurement": unit,
            "unit_class": unit_class,
        }
        self.rows[statistic_id] = sorted(rows, key=lambda r: r["start"])

    # -------------------------------------------------------------------------- the protocol

    def _session(self, ws: ServerConnection) -> None:
        ws.send(json.dumps({"type": "auth_required", "ha_version": "2024.3.3"}))
        auth = json.loads(ws.recv())
        if auth.get("type") != "auth" or auth.get("access_token") != self.token:
            ws.send(json.dumps({"type": "auth_invalid", "message": "Invalid access token"}))
            return
        ws.send(json.dumps({"type": "auth_ok", "ha_version": "2024.3.3"}))
        for text in ws:
            message = json.loads(text)
            self.commands.append(message)
            ws.send(json.dumps(self._answer(message)))

    def _answer(self, message: dict[str, Any]) -> dict[str, Any]:
        head = {"id": message.get("id"), "type": "result"}
        kind = message.get("type", "")
        if kind in self.fail:
            return {**head, "success": False, "error": self.fail[kind]}
        if kind == "recorder/list_statistic_ids":
            return {**head, "success": True, "result": list(self.metadata.values())}
        if kind == "recorder/statistics_during_period":
            return {**head, "success": True, "result": self._period(message)}
        return {**head, "success": False, "error": {"code": "unknown_command", "message": kind}}

    def _period(self, message: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        assert message["period"] == "hour", "the double serves hourly rows only"
        since = datetime.fromisoformat(message["start_time"])
        until = datetime.fromisoformat(message["end_time"])
        types = message.get("types") or [*COLUMNS, "change"]
        out: dict[str, list[dict[str, Any]]] = {}
        for statistic_id in message["statistic_ids"]:
            meta = self.metadata.get(statistic_id)
            if meta is None:
                continue
            factor = self._factor(meta, message.get("units") or {})
            rows = self.rows[statistic_id]
            present = {c for c in COLUMNS if any(r.get(c) is not None for r in rows)}
            if "sum" in present:
                present.add("change")
            before = [r for r in rows if r["start"] < since]
            last_sum = before[-1].get("sum") if before else None
            got = []
            for row in rows:
                if not since <= row["start"] < until:
                    continue
                start = row["start"].astimezone(timezone.utc).timestamp() * 1000
                out_row: dict[str, Any] = {"start": start, "end": start + 3_600_000}
                for column in types:
                    if column not in present:
                        continue  # an empty column is left out
                    if column == "change":
                        total = row.get("sum")
                        value = None if total is None else total - (last_sum or 0.0)
                    else:
                        value = row.get(column)
                    out_row[column] = None if value is None else value * factor
                last_sum = row.get("sum", last_sum)
                got.append(out_row)
            if got:
                out[statistic_id] = got
        return out

    @staticmethod
    def _factor(meta: dict[str, Any], units: dict[str, str]) -> float:
        unit_class = meta.get("unit_class")
        wanted = units.get(unit_class or "")
        if wanted is None:
            return 1.0
        table = CONVERSIONS[unit_class or ""]
        return table[meta["statistics_unit_of_measurement"]] / table[wanted]


class YearOfStatistics:
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

    def metadata(self) -> dict[str, dict[str, Any]]:
        """Per statistic id, ``recorder/import_statistics``' metadata (Home Assistant 2024.3)."""

        def meta(statistic_id: str, unit: str, has_sum: bool) -> dict[str, Any]:
            return {
                "has_mean": not has_sum,
                "has_sum": has_sum,
                "name": None,
                "source": "recorder",
                "statistic_id": statistic_id,
                "unit_of_measurement": unit,
            }

        return {
            "sensor.energy": meta("sensor.energy", "Wh", True),
            "sensor.phone_steps": meta("sensor.phone_steps", "steps", False),
            "sensor.temperature": meta("sensor.temperature", "°C", False),
        }

    def rows(self) -> dict[str, list[dict]]:
        return {
            "sensor.energy": self.energy,
            "sensor.phone_steps": self.steps,
            "sensor.temperature": self.temperature,
        }

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


def backfill_a_year(mock, url: str, token: str, tmp_path) -> tuple[int, str]:
    """``exist-bridge backfill --statistics`` of ``YearOfStatistics``' days from the Home
    Assistant at ``url`` into ``mock`` (the command line, a configuration file, a token file);
    (exit code, stdout and stderr)."""
    config = tmp_path / "bridge.yaml"
    state = tmp_path / "state"
    config.write_text(STATISTICS_CONFIG.format(url=mock.url, token=mock.token, state=state))
    (tmp_path / "ha_token").write_text(token + "\n")
    args = [
        "backfill",
        "-c",
        str(config),
        "--from",
        FIRST.isoformat(),
        "--to",
        (FIRST + timedelta(days=DAYS - 1)).isoformat(),
        "--home-assistant",
        url,
        "--ha-token-file",
        str(tmp_path / "ha_token"),
        "--statistics",
        *(a for e in YEAR_ENTITIES for a in ("--entity", e)),
    ]
    out, err = io.StringIO(), io.StringIO()
    code = cli_run(args, out, err)
    return code, out.getvalue() + err.getvalue()


def check_the_year(mock, year: YearOfStatistics, out: str) -> None:
    """Every day of the year in the mock as the statistics say, in ceil(days x 3 / 35) update
    requests, all from the statistics."""
    assert {len(days) for days in year.truth.values()} == {DAYS}
    for attribute, days in year.truth.items():
        assert mock.state.values(attribute) == pytest.approx(days), attribute
    requests = math.ceil(DAYS * 3 / 35)
    assert len(writes(mock)) == requests == 32
    assert f"sent {DAYS * 3} total(s) in {requests} request(s)" in out
    assert out.count(f"statistics: {FIRST}..{FIRST + timedelta(days=DAYS - 1)}") == 3
    assert "history:" not in out  # nothing asked of the REST history
