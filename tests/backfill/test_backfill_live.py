"""Issue 17 review, end to end: the backfill and the live bridge never count a day twice (a real
mosquitto, the bridge in-process, the mock over real HTTP), the bridge's days written while a run
waits are re-checked before each request, and a bad CSV or an unknown attribute is caught in the
plan, before anything is sent."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta

import pytest

from mqtt_bridge.backfill import BackfillOptions
from mqtt_bridge.cli import run as cli_run
from mqtt_bridge.config import parse_config
from mqtt_bridge.pipeline.buffer.outbox import Commit, Effect, Outbox
from mqtt_bridge.pipeline.output.exist_output import make_client

from ..support.backfill import CONFIG, ZONE, config, run, write_csv, writes
from ..support.bridge import start_bridge
from ..support.config import bridge_config
from ..support.mqtt import Publisher
from ..support.waiting import wait_until

pytestmark = pytest.mark.slow  # the mock over HTTP, mosquitto

DAY_BEFORE, DAY = "2024-03-09", "2024-03-10"


def bridge_text(mock, port: int, tmp_path) -> str:
    """The live bridge's config: fridge door openings timed by the device's ``last_seen``."""
    return bridge_config(
        url=mock.url,
        token=mock.token,
        port=port,
        state_dir=tmp_path / "state",
        client_id="bridge-backfill",
        timezone="Europe/Berlin",
        attributes=[
            {"name": "fridge_opens", "label": "Fridge opens", "group": "custom", "value_type": 0}
        ],
        mappings=[
            {
                "topic": "zigbee2mqtt/fridge",
                "attribute": "fridge_opens",
                "json_path": "contact",
                "edge": {"from": True, "to": False},
                "event_time": "last_seen",
            }
        ],
    )


def at(day: str, hh: int, mm: int) -> float:
    y, m, d = (int(x) for x in day.split("-"))
    return datetime(y, m, d, hh, mm, tzinfo=ZONE).timestamp()


class Clock:
    def __init__(self, t: float):
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_an_event_on_a_backfilled_day_is_not_added_again(mock_exist, mosquitto, tmp_path):
    text = bridge_text(mock_exist, mosquitto.port, tmp_path)
    cfg = parse_config(text)
    path = tmp_path / "days.csv"
    write_csv(path, ["date", "attribute", "value"], [[DAY_BEFORE, "fridge_opens", "7"]])
    code, out, err = run(
        cfg, BackfillOptions(start=date(2024, 3, 1), end=date(2024, 3, 9), csv=path)
    )
    assert code == 0, out + err
    assert mock_exist.state.values("fridge_opens") == {DAY_BEFORE: 7}

    # The bridge, just after midnight, gets two door openings timed by the device: one at 23:50
    # the day before (in the history the backfill sent: its 7 holds it), one after midnight.
    bridge = start_bridge(parse_config(text), clock=Clock(at(DAY, 0, 20)))
    pub = Publisher(mosquitto.port)
    try:
        for t, contact in (
            (at(DAY_BEFORE, 23, 49), True),
            (at(DAY_BEFORE, 23, 50), False),
            (at(DAY, 0, 5), True),
            (at(DAY, 0, 6), False),
        ):
            pub.publish("zigbee2mqtt/fridge", {"contact": contact, "last_seen": int(t * 1000)})
        wait_until(lambda: bridge.outbox.counters().get("messages", 0) >= pub.sent)
        bridge.flusher.flush_once()
        assert mock_exist.state.values("fridge_opens") == {DAY_BEFORE: 7, DAY: 1}
        assert bridge.outbox.counters().get("backfilled_day") == 1
    finally:
        pub.close()
        bridge.stop()
    cfg_path = tmp_path / "bridge.yaml"
    cfg_path.write_text(text)
    status, status_err = io.StringIO(), io.StringIO()
    assert cli_run(["status", "-c", str(cfg_path)], status, status_err) == 0, status_err.getvalue()
    assert "redeliveries ignored, 1 on backfilled days not added" in status.getvalue()


def test_today_is_refused(mock_exist, tmp_path):
    today = datetime.now(ZONE).date()
    with pytest.raises(ValueError, match=f"--to {today}: today .* belong to the live bridge"):
        run(
            config(mock_exist, tmp_path),
            BackfillOptions(start=today - timedelta(days=3), end=today, csv=tmp_path / "x.csv"),
        )
    assert writes(mock_exist) == []


def test_days_the_bridge_writes_while_a_run_waits_are_left_to_it(mock_exist, tmp_path):
    days = [date(2024, 1, 1) + timedelta(days=i) for i in range(70)]  # two requests
    path = tmp_path / "days.csv"
    write_csv(path, ["date", "attribute", "value"], [[d.isoformat(), "steps", "100"] for d in days])
    cfg = config(mock_exist, tmp_path)
    exist = make_client(cfg, tmp_path / "state")
    real_update = exist.update

    def update(items):  # the live bridge counts steps on day 60 while the first request is out
        result = real_update(items)
        if len(writes(mock_exist)) == 1:
            box = Outbox(tmp_path / "state" / "outbox.sqlite")
            box.commit([Commit(effects=[Effect("steps", days[60].isoformat(), "update", 555)])])
            box.close()
        return result

    exist.update = update
    code, out, err = run(cfg, BackfillOptions(start=days[0], end=days[-1], csv=path), exist=exist)
    assert code == 0, out + err
    assert "to send: 70 total(s) in 2 request(s)" in out  # the plan didn't know yet
    assert (
        f"left out 1 day(s) the live bridge wrote while this run waited (--overwrite to "
        f"replace them): steps {days[60]}" in out
    )
    got = mock_exist.state.values("steps")
    assert days[60].isoformat() not in got and len(got) == 69
    assert "sent 69 total(s) in 2 request(s)" in out


def cli(mock, tmp_path, csv_path, *extra) -> tuple[int, str, str]:
    cfg_path = tmp_path / "bridge.yaml"
    cfg_path.write_text(
        CONFIG.format(url=mock.url, token=mock.token, state=tmp_path / "state", per_hour=280)
    )
    out, err = io.StringIO(), io.StringIO()
    code = cli_run(
        [
            "backfill",
            "-c",
            str(cfg_path),
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-27",
            "--csv",
            str(csv_path),
            *extra,
        ],
        out,
        err,
    )
    return code, out.getvalue(), err.getvalue()


def test_a_bad_value_is_refused_with_its_line_in_the_dry_run(mock_exist, tmp_path):
    path = tmp_path / "days.csv"
    write_csv(
        path,
        ["date", "attribute", "value"],
        [["2026-11-22", "steps", "4000"], ["2026-11-23", "steps", "abc"]],
    )
    code, out, err = cli(mock_exist, tmp_path, path, "--dry-run")
    assert code == 1
    assert f"{path}:3: steps 2026-11-23: 'abc' is not a number (integer)" in err
    assert "Traceback" not in err and "dry run" not in out and "total" not in out
    assert cli(mock_exist, tmp_path, path)[0] == 1  # and without --dry-run: nothing is sent
    assert writes(mock_exist) == []


def test_every_bad_row_gets_its_line(mock_exist, tmp_path):
    path = tmp_path / "days.csv"
    write_csv(
        path,
        ["date", "attribute", "value"],
        [
            ["2026-11-22", "steps", "4000"],
            ["2026-11-23", "weight", "heavy"],
            ["2026-11-22", "steps", "4100"],
        ],
    )
    code, out, err = cli(mock_exist, tmp_path, path)
    assert code == 1
    lines = err.splitlines()
    assert f"{path}:3: weight 2026-11-23: 'heavy' is not a number (decimal)" in lines
    assert (
        f"{path}:4: steps 2026-11-22 is also on line 2: one total per date and attribute" in lines
    )
    assert lines[-1].endswith(f"{path}: 2 bad row(s): nothing was sent")
    assert writes(mock_exist) == []


def test_an_unknown_attribute_is_flagged_and_never_sent(mock_exist, tmp_path):
    path = tmp_path / "days.csv"
    write_csv(
        path,
        ["date", "attribute", "value"],
        [
            ["2026-11-22", "steps", "4000"],
            ["2026-11-22", "stpes", "4000"],
            ["2026-11-23", "stpes", "10"],
        ],
    )
    code, out, _ = cli(mock_exist, tmp_path, path, "--dry-run")
    assert code == 0
    assert (
        "not sent: stpes (2 day(s)) is neither in the configuration's attributes nor owned" in out
    )
    assert "to send: 1 total(s) in 1 request(s)" in out
    code, out, err = cli(mock_exist, tmp_path, path)
    assert code == 0, out + err
    assert mock_exist.state.values("steps") == {"2026-11-22": 4000}
    assert [i["name"] for j in writes(mock_exist) for i in j["body"]] == ["steps"]
    code, out, _ = cli(mock_exist, tmp_path, path)  # a rerun costs no request
    assert code == 0 and "nothing to send" in out and "not sent: stpes" in out
    assert len(writes(mock_exist)) == 1
