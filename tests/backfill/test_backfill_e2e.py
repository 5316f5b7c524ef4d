"""`exist-bridge backfill` end to end against the mock over real HTTP: a local HTTP server
answering Home Assistant's documented history format, CSV files in both forms, the request count
of a year of data, interruption and rerun, the live bridge's days, and the budget."""

from __future__ import annotations

import io
import json
import math
import threading
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from mqtt_bridge.backfill import BackfillOptions, run_backfill
from mqtt_bridge.cli import run as cli_run
from mqtt_bridge.pipeline.buffer.outbox import Commit, Effect, Outbox
from mqtt_bridge.pipeline.output.exist_output import make_client

from ..support.backfill import CONFIG, ZONE, config, run, write_csv, writes

pytestmark = pytest.mark.slow  # HTTP servers, a year of history

HA_TOKEN = "ha-long-lived-token"


def local(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=ZONE)


# ------------------------------------------------------------------------------ a Home Assistant


class History:
    """Five entities' state changes over a year (a ground truth per local day), and a server
    answering ``GET /api/history/period/<start>?filter_entity_id=...&end_time=...`` as Home
    Assistant documents it (with ``minimal_response``: entity_id, attributes and last_updated
    only on the first and last state of each entity)."""

    ENTITIES = (
        "sensor.steps",
        "sensor.weight",
        "sensor.energy",
        "binary_sensor.door",
        "binary_sensor.tv",
    )

    def __init__(self, first: date, days: int):
        self.changes: dict[str, list[tuple[float, str]]] = {e: [] for e in self.ENTITIES}
        self.truth: dict[str, dict[str, object]] = {
            "steps": {},
            "weight": {},
            "energy_kwh": {},
            "door_opens": {},
            "tv_minutes": {},
        }
        reading = 1000.0
        for i in range(-1, days):  # the day before the range sets the states at its start
            day = first + timedelta(days=i)
            key = day.isoformat()
            steps, weight = 3000 + 37 * i % 5000, round(70 + (i % 11) / 10, 1)
            add = round(0.5 + (i % 7) * 0.25, 2)
            opens, minutes = 1 + i % 4, 15 + i % 50
            self.changes["sensor.steps"] += [
                (local(day, 9).timestamp(), str(steps // 3)),
                (local(day, 21).timestamp(), str(steps)),
            ]
            self.changes["sensor.weight"].append((local(day, 7).timestamp(), str(weight)))
            reading = round(reading + add, 2)
            self.changes["sensor.energy"].append((local(day, 12).timestamp(), str(reading)))
            for n in range(opens):
                self.changes["binary_sensor.door"] += [
                    (local(day, 8 + n).timestamp(), "on"),
                    (local(day, 8 + n, 1).timestamp(), "off"),
                ]
            on = local(day, 20).timestamp()
            self.changes["binary_sensor.tv"] += [(on, "on"), (on + minutes * 60, "off")]
            if i >= 0:
                self.truth["steps"][key] = steps
                self.truth["weight"][key] = weight
                self.truth["energy_kwh"][key] = add
                self.truth["door_opens"][key] = opens
                self.truth["tv_minutes"][key] = minutes
        self.requests: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> History:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def period(self, start: datetime, end: datetime, entities: list[str]) -> list:
        out = []
        for entity in entities:
            changes = self.changes.get(entity)
            if changes is None:
                continue
            before = [s for t, s in changes if t < start.timestamp()]
            inside = [(t, s) for t, s in changes if start.timestamp() <= t < end.timestamp()]
            rows = []
            if before:  # the state at the start of the period, stamped with the start
                rows.append((start.timestamp(), before[-1]))
            rows += inside
            series = []
            for n, (t, s) in enumerate(rows):
                stamp = datetime.fromtimestamp(t, ZONE).isoformat()
                if n in (0, len(rows) - 1):
                    series.append(
                        {
                            "entity_id": entity,
                            "state": s,
                            "attributes": {},
                            "last_changed": stamp,
                            "last_updated": stamp,
                        }
                    )
                else:
                    series.append({"state": s, "last_changed": stamp})
            out.append(series)
        return out

    def _handler(self):
        history = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                url = urlsplit(self.path)
                history.requests.append(self.path)
                if self.headers.get("Authorization") != f"Bearer {HA_TOKEN}":
                    return self._send(401, {"message": "Unauthorized"})
                prefix = "/api/history/period/"
                if not url.path.startswith(prefix):
                    return self._send(404, {"message": "not found"})
                query = parse_qs(url.query, keep_blank_values=True)
                start = datetime.fromisoformat(unquote(url.path[len(prefix) :]))
                end = datetime.fromisoformat(query["end_time"][0])
                entities = query["filter_entity_id"][0].split(",")
                return self._send(200, history.period(start, end, entities))

            def _send(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        return Handler


ENTITY_ARGS = [
    "sensor.steps=steps:update",
    "sensor.weight=weight:update",
    "sensor.energy=energy_kwh:counter",
    "binary_sensor.door=door_opens:increment",
    "binary_sensor.tv=tv_minutes:duration",
]


@pytest.fixture
def year():
    history = History(date(2023, 1, 1), 365).start()
    yield history
    history.stop()


def test_a_year_from_home_assistant_costs_one_request_per_35_totals(mock_exist, year, tmp_path):
    cfg = config(mock_exist, tmp_path)
    options = BackfillOptions(
        start=date(2023, 1, 1),
        end=date(2023, 12, 31),
        home_assistant=year.url,
        ha_token=HA_TOKEN,
        entities=ENTITY_ARGS,
    )
    code, out, err = run(cfg, options)
    assert code == 0, out + err
    for attribute, days in year.truth.items():
        got = mock_exist.state.values(attribute)
        assert got == pytest.approx(days), attribute
    assert sum(len(d) for d in year.truth.values()) == 365 * 5
    assert len(writes(mock_exist)) == math.ceil(365 * 5 / 35) == 53
    setup = [j for j in mock_exist.state.journal("/api/2/") if not j["path"].endswith("/update/")]
    assert len(setup) <= 4, [j["path"] for j in setup]  # acquire + create (+ owned lists)
    assert "sent 1825 total(s) in 53 request(s)" in out
    assert "backfill [" in err and "53/53 requests" in err  # the progress bar, on stderr
    assert all(r.startswith("/api/history/period/") for r in year.requests)
    assert len(year.requests) == math.ceil(365 / 7)  # a week per history request

    again_code, again, _ = run(cfg, options)  # idempotent: nothing left to send
    assert again_code == 0 and "already sent by an earlier run: 1825" in again
    assert len(writes(mock_exist)) == 53


def test_dry_run_shows_the_plan_and_sends_nothing(mock_exist, year, tmp_path):
    cfg = config(mock_exist, tmp_path, per_hour=20)
    options = BackfillOptions(
        start=date(2023, 1, 1),
        end=date(2023, 12, 31),
        dry_run=True,
        home_assistant=year.url,
        ha_token=HA_TOKEN,
        entities=ENTITY_ARGS,
    )
    code, out, _ = run(cfg, options)
    assert code == 0
    assert "steps: 365 day(s) 2023-01-01..2023-12-31, total " in out
    opens = sum(year.truth["door_opens"].values())
    assert f"door_opens: 365 day(s) 2023-01-01..2023-12-31, total {opens}" in out
    assert (
        "to send: 1825 total(s) in 53 request(s); budget 20 of 20 left this hour, so it takes "
        "about 2 h 0 min" in out
    )
    assert "dry run: nothing sent" in out
    assert mock_exist.state.journal("/api/2/") == []  # not even the set-up


def test_a_wrong_home_assistant_token_is_one_clear_line(mock_exist, year, tmp_path):
    cfg_path = tmp_path / "bridge.yaml"
    cfg_path.write_text(
        CONFIG.format(
            url=mock_exist.url, token=mock_exist.token, state=tmp_path / "state", per_hour=280
        )
    )
    (tmp_path / "ha_token").write_text("wrong\n")
    out, err = io.StringIO(), io.StringIO()
    code = cli_run(
        [
            "backfill",
            "-c",
            str(cfg_path),
            "--from",
            "2023-01-01",
            "--to",
            "2023-01-31",
            "--home-assistant",
            year.url,
            "--ha-token-file",
            str(tmp_path / "ha_token"),
            "--entity",
            "sensor.steps=steps:update",
        ],
        out,
        err,
    )
    assert code == 1
    assert f"Home Assistant at {year.url} refused the token (401)" in err.getvalue()
    assert "Traceback" not in err.getvalue()


def test_a_home_assistant_url_copied_from_the_browser_is_named(mock_exist, year, tmp_path):
    cfg_path = tmp_path / "bridge.yaml"
    cfg_path.write_text(
        CONFIG.format(
            url=mock_exist.url, token=mock_exist.token, state=tmp_path / "state", per_hour=280
        )
    )
    (tmp_path / "ha_token").write_text(HA_TOKEN)
    page = year.url + "/lovelace/0"  # the dashboard's address
    argv = ["backfill", "-c", str(cfg_path), "--from", "2023-01-01", "--to", "2023-01-31"]
    argv += ["--home-assistant", page, "--ha-token-file", str(tmp_path / "ha_token")]
    out, err = io.StringIO(), io.StringIO()
    code = cli_run([*argv, "--entity", "sensor.steps=steps:update"], out, err)
    assert code == 1, err.getvalue()
    assert (
        f"Home Assistant at {page} answered 404 to /api/history/period/2023-01-01T00%3A00%3A00"
        "%2B01%3A00: give Home Assistant's own address, like http://homeassistant.local:8123, "
        "without a page's path"
    ) in err.getvalue()


# ------------------------------------------------------------------------------ CSV


def test_csv_day_totals_are_sent_as_they_are(mock_exist, tmp_path):
    path = tmp_path / "days.csv"
    write_csv(
        path,
        ["date", "attribute", "value"],
        [
            ["2024-02-01", "steps", "4000"],
            ["2024-02-02", "steps", "5200"],
            ["2024-02-01", "weight", "71.5"],
            ["2024-03-05", "weight", "70"],  # outside --to
        ],
    )
    cfg = config(mock_exist, tmp_path)
    code, out, _ = run(
        cfg, BackfillOptions(start=date(2024, 2, 1), end=date(2024, 2, 29), csv=path)
    )
    assert code == 0, out
    assert mock_exist.state.values("steps") == {"2024-02-01": 4000, "2024-02-02": 5200}
    assert mock_exist.state.values("weight") == {"2024-02-01": 71.5}
    assert len(writes(mock_exist)) == 1


def door_rows(days: int, first: date) -> tuple[list[list[str]], dict[str, int]]:
    """A log of MQTT messages (timestamp, topic, payload) from a door sensor: i % 5 + 1
    openings on day i, and the truth per day."""
    rows, truth = [], {}
    for i in range(days):
        day = first + timedelta(days=i)
        for n in range(i % 5 + 1):
            t = local(day, 6 + n)
            rows.append([t.isoformat(), "zigbee2mqtt/door", json.dumps({"contact": True})])
            rows.append(
                [
                    (t + timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%S"),  # naive
                    "zigbee2mqtt/door",
                    json.dumps({"contact": False}),
                ]
            )
        rows.append(
            [
                str(int(local(day, 23).timestamp() * 1000)),  # epoch ms
                "homeassistant/sensor/phone_steps/state",
                str(1000 + i),
            ]
        )
        truth[day.isoformat()] = i % 5 + 1
    return rows, truth


def test_csv_messages_replay_through_the_mappings_and_an_interrupted_run_resumes(
    mock_exist, tmp_path
):
    first = date(2024, 1, 1)
    rows, truth = door_rows(60, first)
    path = tmp_path / "log.csv"
    write_csv(path, ["timestamp", "entity", "state"], rows)
    cfg = config(mock_exist, tmp_path)
    options = BackfillOptions(start=first, end=date(2024, 2, 29), csv=path)

    exist = make_client(cfg, tmp_path / "state")
    real_update, calls = exist.update, []

    def interrupted(items):  # Ctrl-C while the third request is on its way
        calls.append(len(items))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_update(items)

    exist.update = interrupted
    err = io.StringIO()
    with pytest.raises(KeyboardInterrupt):
        run_backfill(cfg, options, io.StringIO(), err, exist=exist)
    assert len(writes(mock_exist)) == 2  # 70 of 120 totals sent
    assert "backfill stopped with 50 total(s) not sent yet" in err.getvalue()
    assert "run the same command again to send the rest" in err.getvalue()

    code, out, _ = run(cfg, options)  # the rerun sends only what is left
    assert code == 0, out
    assert "already sent by an earlier run: 70" in out
    assert len(writes(mock_exist)) == 2 + math.ceil(50 / 35)
    assert mock_exist.state.values("door_opens") == truth
    steps = mock_exist.state.values("steps")
    assert steps == {(first + timedelta(days=i)).isoformat(): 1000 + i for i in range(60)}

    assert "nothing to send" in run(cfg, options)[1]  # and once more: nothing changes
    assert len(writes(mock_exist)) == 4


def test_days_the_live_bridge_wrote_are_kept_unless_overwrite(mock_exist, tmp_path):
    path = tmp_path / "days.csv"
    write_csv(
        path,
        ["date", "attribute", "value"],
        [["2024-02-01", "steps", "4000"], ["2024-02-02", "steps", "5200"]],
    )
    cfg = config(mock_exist, tmp_path)
    box = Outbox(tmp_path / "state" / "outbox.sqlite")  # the live bridge counted steps that day
    box.commit([Commit(effects=[Effect("steps", "2024-02-02", "update", 6100)])])
    box.close()
    options = BackfillOptions(start=date(2024, 2, 1), end=date(2024, 2, 2), csv=path)
    code, out, _ = run(cfg, options)
    assert code == 0
    assert (
        "left out 1 day(s) the live bridge has written (--overwrite to replace them): "
        "steps 2024-02-02" in out
    )
    assert mock_exist.state.values("steps") == {"2024-02-01": 4000}
    options.overwrite = True
    assert run(cfg, options)[0] == 0
    assert mock_exist.state.values("steps") == {"2024-02-01": 4000, "2024-02-02": 5200}


def test_a_csv_with_another_header_is_one_clear_line(mock_exist, tmp_path):
    cfg_path = tmp_path / "bridge.yaml"
    cfg_path.write_text(
        CONFIG.format(
            url=mock_exist.url, token=mock_exist.token, state=tmp_path / "state", per_hour=280
        )
    )
    path = tmp_path / "odd.csv"
    write_csv(path, ["when", "what"], [["2024-01-01", "x"]])
    out, err = io.StringIO(), io.StringIO()
    code = cli_run(
        [
            "backfill",
            "-c",
            str(cfg_path),
            "--from",
            "2024-01-01",
            "--to",
            "2024-01-02",
            "--csv",
            str(path),
        ],
        out,
        err,
    )
    assert code == 1
    assert f"{path}:1: the header must be date,attribute,value or timestamp,entity,state" in (
        err.getvalue()
    )
    assert "Traceback" not in err.getvalue() and writes(mock_exist) == []


def test_exist_down_stops_the_run_with_a_hint_and_a_rerun_finishes(mock_exist, tmp_path):
    path = tmp_path / "days.csv"
    write_csv(
        path,
        ["date", "attribute", "value"],
        [[f"2024-01-{d:02d}", "steps", str(100 * d)] for d in range(1, 31)],
    )
    cfg = config(mock_exist, tmp_path)
    options = BackfillOptions(start=date(2024, 1, 1), end=date(2024, 1, 31), csv=path)
    exist = make_client(cfg, tmp_path / "state", sleep=lambda s: None)  # retries don't wait
    mock_exist.state.add_fault("/api/2/attributes/update/", status=503, count=None)
    code, out, err = run(cfg, options, exist=exist)
    assert code == 1
    assert "backfill stopped with 30 total(s) not sent yet" in err
    mock_exist.state.clear_faults()
    assert run(cfg, options)[0] == 0
    assert mock_exist.state.values("steps") == {f"2024-01-{d:02d}": 100 * d for d in range(1, 31)}


def test_an_entity_alone_replays_on_its_statestream_topic_through_the_mappings(
    mock_exist, tmp_path
):
    history = History(date(2024, 3, 1), 31)
    history.changes["sensor.phone_steps"] = history.changes.pop("sensor.steps")
    history.start()
    try:
        cfg = config(mock_exist, tmp_path)  # maps homeassistant/sensor/phone_steps/state
        options = BackfillOptions(
            start=date(2024, 3, 1),
            end=date(2024, 3, 31),
            home_assistant=history.url,
            ha_token=HA_TOKEN,
            entities=["sensor.phone_steps"],
        )
        code, out, _ = run(cfg, options)
        assert code == 0, out
        assert mock_exist.state.values("steps") == history.truth["steps"]  # across the DST change
        assert len(writes(mock_exist)) == 1
    finally:
        history.stop()
