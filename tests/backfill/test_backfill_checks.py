"""Issue 17 review: a day CSV is checked before anything is sent (values against the attribute's
type, with the line; the same (date, attribute) twice, with both lines), attributes neither
configured nor owned are flagged in the plan and not sent, and the progress bar without a
terminal prints a line per 10 % or 10 s, not one per request."""

from __future__ import annotations

import io
from zoneinfo import ZoneInfo

import pytest

from mqtt_bridge.backfill.send import Bar, Progress, make_plan
from mqtt_bridge.backfill.sources import SourceError, read_csv

ZONE = ZoneInfo("Europe/Berlin")
TYPES = {"steps": 0, "weight": 1, "mood_note": 2, "tv_minutes": 3}


def read(tmp_path, text: str):
    path = tmp_path / "days.csv"
    path.write_text(text)
    return path, read_csv(path, ZONE, lambda e: e, TYPES.get)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("2026-11-23,steps,abc", ":3: steps 2026-11-23: 'abc' is not a number (integer)"),
        ("2026-11-23,steps,12.5", ":3: steps 2026-11-23: 12.5 is not a whole number"),
        ("2026-11-23,weight,nan", ":3: weight 2026-11-23: 'nan' is not a number"),
        ("2026-11-23,tv_minutes,", ":3: tv_minutes 2026-11-23: '' is not a number"),
    ],
)
def test_a_value_the_attribute_cannot_take_is_refused_with_its_line(tmp_path, rows, message):
    with pytest.raises(SourceError) as err:
        read(tmp_path, f"date,attribute,value\n2026-11-22,steps,100\n{rows}\n")
    assert str(err.value).startswith(str(tmp_path / "days.csv")) and message in str(err.value)
    assert "\n" not in str(err.value)


def test_good_values_keep_their_type_and_unknown_attributes_pass_to_the_plan(tmp_path):
    _, (records, days) = read(
        tmp_path,
        "date,attribute,value\n2026-11-22,steps,100\n2026-11-22,weight,71\n"
        "2026-11-22,mood_note,123\n2026-11-22,unheard_of,abc\n2026-11-22,steps_x,1.0\n",
    )
    assert records == []
    assert [(d.attribute, d.value, d.line) for d in days] == [
        ("steps", 100, 2),
        ("weight", 71, 3),
        ("mood_note", "123", 4),  # a string stays text
        ("unheard_of", "abc", 5),
        ("steps_x", 1.0, 6),
    ]


def test_the_same_day_and_attribute_twice_is_refused_with_both_lines(tmp_path):
    with pytest.raises(SourceError) as err:
        read(
            tmp_path,
            "date,attribute,value\n2026-11-22,steps,100\n2026-11-23,steps,5\n"
            "2026-11-22,steps,200\n",
        )
    assert ":4: steps 2026-11-22 is also on line 2" in str(err.value)


def test_the_plan_flags_attributes_neither_configured_nor_owned(tmp_path):
    values = {("steps", "2026-11-22"): 1, ("stpes", "2026-11-22"): 2, ("stpes", "2026-11-23"): 3}
    plan = make_plan(values, Progress(tmp_path, "a"), set(), known=lambda name: name == "steps")
    assert [i["name"] for i in plan.items] == ["steps"]
    assert plan.unknown == {"stpes": 2}
    assert plan.summary().keys() == {"steps"}


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_without_a_terminal_the_bar_prints_a_line_per_ten_percent():
    out, clock = io.StringIO(), Clock()
    bar = Bar(500, out, clock=clock)
    bar.show(0)
    for n in range(1, 501):
        bar.show(n)
    bar.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 11, lines  # 0 %, 10 %, ..., 100 %
    assert lines[-1].startswith("backfill [") and "500/500 requests" in lines[-1]
    assert "50/500" in lines[1]


def test_without_a_terminal_the_bar_also_prints_every_ten_seconds_and_each_new_note():
    out, clock = io.StringIO(), Clock()
    bar = Bar(1000, out, clock=clock)
    bar.show(0)
    for n in range(1, 4):
        clock.t += 11  # slow requests: a line every 10 s even below the next 10 %
        bar.show(n)
    bar.show(3, "waiting 55 min for the request budget")
    bar.show(3, "waiting 55 min for the request budget")  # the same note again: not repeated
    bar.show(4)
    lines = out.getvalue().splitlines()
    assert [line.split("]")[1].strip() for line in lines] == [
        "0/1000 requests",
        "1/1000 requests",
        "2/1000 requests",
        "3/1000 requests",
        "3/1000 requests  waiting 55 min for the request budget",
    ]


def test_on_a_terminal_the_bar_redraws_in_place():
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Tty()
    bar = Bar(100, out, clock=Clock())
    for n in range(101):
        bar.show(n)
    bar.close()
    assert out.getvalue().count("\r") == 101 and out.getvalue().count("\n") == 1


@pytest.mark.parametrize("oldest_sqlite", [False, True], ids=["this sqlite", "999 variables"])
def test_the_outbox_drops_effects_on_claimed_days_and_leaves_the_bridges_days(
    tmp_path, oldest_sqlite
):
    import sqlite3
    from datetime import date, timedelta

    from mqtt_bridge.pipeline.buffer.outbox import Commit, Effect, Outbox

    days = [(date(2020, 1, 1) + timedelta(days=i)).isoformat() for i in range(1000)]
    box = Outbox(tmp_path / "outbox.sqlite")
    if oldest_sqlite:  # SQLite before 3.32 takes at most 999 parameters per statement
        if not hasattr(box.db, "setlimit"):
            pytest.skip("sqlite3.Connection.setlimit needs Python 3.11")
        box.db.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)
    box.commit([Commit(effects=[Effect("steps", days[3], "increment", 1)])])  # the bridge's day
    live = box.claim_backfill([("steps", d) for d in days])  # more keys than one statement takes
    assert live == {("steps", days[3])}
    effects = [Effect("steps", d, "increment", 1) for d in days[:500]]
    effects.append(Effect("steps", "2024-01-01", "increment", 2))  # not backfilled
    box.commit([Commit(effects=effects)])
    got = dict(box.db.execute("SELECT date, delta FROM totals"))
    assert got == {days[3]: 2, "2024-01-01": 2}  # the bridge's own day keeps counting
    assert box.counters()["backfilled_day"] == 499
    assert box.claim_backfill([("steps", days[3])], overwrite=True) == set()
    box.commit([Commit(effects=[Effect("steps", days[3], "increment", 1)])])
    assert dict(box.db.execute("SELECT date, delta FROM totals"))[days[3]] == 2
    box.close()
