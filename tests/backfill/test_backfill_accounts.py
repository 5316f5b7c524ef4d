"""``exist-bridge backfill --account NAME`` in a household (``exist.accounts``): the history goes
to that account, with its client (token, budget), its mappings only, its time zone, its progress
and the live bridge's days of that account; the first account by default. The mock over HTTP
with two users (alice: its default user; bob, with his own token)."""

from __future__ import annotations

import io
import json
import sqlite3
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from mqtt_bridge.backfill import BackfillOptions
from mqtt_bridge.cli import run as cli_run
from mqtt_bridge.config import parse_config
from mqtt_bridge.pipeline.buffer.outbox import Commit, Effect, Outbox

from ..support.backfill import run, write_csv

pytestmark = pytest.mark.slow  # the mock over HTTP

# alice counts her phone's steps, bob the door (the same log holds both); bob lives in New York
HOUSEHOLD = """
exist:
  base_url: {url}
  timezone: Europe/Berlin
  accounts:
    - name: alice
      token: {alice}
    - name: bob
      token: {bob}
      timezone: America/New_York
      requests_per_hour: 50
bridge:
  state_dir: {state}
attributes:
  - template: steps
  - {{name: door_opens, label: Door opens, group: custom, value_type: 0}}
mappings:
  - topic: homeassistant/sensor/phone_steps/state
    attribute: steps
    mode: update
  - topic: zigbee2mqtt/door
    attribute: door_opens
    account: bob
"""
BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")
FIRST = date(2024, 1, 1)


@pytest.fixture
def household(mock_exist, tmp_path):
    mock_exist.state.add_user("bob", timezone="America/New_York")
    bob = mock_exist.state.issue_token(username="bob")["access_token"]
    text = HOUSEHOLD.format(
        url=mock_exist.url, alice=mock_exist.token, bob=bob, state=tmp_path / "state"
    )
    (tmp_path / "bridge.yaml").write_text(text)
    return parse_config(text)


def log_rows(days: int) -> tuple[list[list[str]], dict[str, int], dict[str, int]]:
    """A log of messages: each day a steps reading at 23:00 in Berlin and i % 3 + 1 door
    openings at 03:00 Berlin time (21:00 the day before in New York); the truth per local
    date of alice (steps) and bob (door openings)."""
    rows, steps, opens = [], {}, {}
    for i in range(days):
        day = FIRST + timedelta(days=i)
        late = datetime(day.year, day.month, day.day, 23, tzinfo=BERLIN)
        rows.append([late.isoformat(), "homeassistant/sensor/phone_steps/state", str(2000 + i)])
        steps[day.isoformat()] = 2000 + i
        early = datetime(day.year, day.month, day.day, 3, tzinfo=BERLIN)
        for n in range(i % 3 + 1):
            rows.append([(early + timedelta(minutes=n)).isoformat(), "zigbee2mqtt/door", "open"])
        bobs_day = early.astimezone(NEW_YORK).date().isoformat()  # the day before, for bob
        opens[bobs_day] = opens.get(bobs_day, 0) + i % 3 + 1
    return rows, steps, opens


def test_the_history_goes_to_the_account_named_with_its_mappings_and_time_zone(
    mock_exist, household, tmp_path
):
    rows, steps, opens = log_rows(10)
    path = tmp_path / "log.csv"
    write_csv(path, ["timestamp", "entity", "state"], rows)
    end = FIRST + timedelta(days=9)
    # the live bridge counted bob's door on one day and alice's steps on another
    box = Outbox(tmp_path / "state" / "outbox.sqlite")
    box.commit(
        [
            Commit(
                effects=[
                    Effect("door_opens", "2024-01-03", "increment", 1, account="bob"),
                    Effect("steps", "2024-01-05", "update", 9999, account="alice"),
                ]
            )
        ]
    )
    box.close()

    code, out, err = run(household, BackfillOptions(start=FIRST, end=end, csv=path, account="bob"))
    assert code == 0, out + err
    assert out.splitlines()[0].endswith("(America/New_York) for account bob")
    assert "left out 1 day(s) the live bridge has written" in out and "door_opens 2024-01-03" in out
    # bob's own mapping only (alice's steps are on no mapping of his), his local dates
    expected = {d: n for d, n in opens.items() if FIRST.isoformat() <= d <= end.isoformat()}
    del expected["2024-01-03"]  # the live bridge's
    assert mock_exist.state.values("door_opens", username="bob") == expected
    assert mock_exist.state.values("steps", username="bob") == {}
    assert mock_exist.state.values("door_opens") == {}  # nothing of his went to alice
    journal = mock_exist.state.journal("/api/2/attributes/update/")
    assert journal and {j["username"] for j in journal} == {"bob"}  # with his token
    state = tmp_path / "state"
    progress = json.loads((state / "accounts" / "bob" / "backfill.json").read_text())
    assert set(progress["sent"]) == {f"door_opens {d}" for d in expected}
    budget = json.loads((state / "accounts" / "bob" / "budget.json").read_text())
    assert budget  # his own budget
    db = sqlite3.connect(state / "outbox.sqlite")  # the days claimed are bob's
    claimed = db.execute("SELECT DISTINCT account FROM backfilled").fetchall()
    db.close()
    assert claimed == [("bob",)]

    # the default: the first account, alice, her mappings and time zone; bob's day in the
    # outbox is no concern of hers, her own is
    code, out, err = run(household, BackfillOptions(start=FIRST, end=end, csv=path))
    assert code == 0, out + err
    assert out.splitlines()[0].endswith("(Europe/Berlin) for account alice")
    assert "steps 2024-01-05" in out and "door_opens" not in out
    assert mock_exist.state.values("steps") == {d: v for d, v in steps.items() if d != "2024-01-05"}
    assert mock_exist.state.values("door_opens", username="bob") == expected  # unchanged
    # each account's progress is its own: running bob's again sends nothing
    code, out, _ = run(household, BackfillOptions(start=FIRST, end=end, csv=path, account="bob"))
    assert code == 0 and "nothing to send: every total was sent by an earlier run" in out


def test_an_account_the_configuration_lacks_is_one_clear_line(mock_exist, household, tmp_path):
    path = tmp_path / "log.csv"
    write_csv(path, ["timestamp", "entity", "state"], log_rows(2)[0])
    argv = ["backfill", "-c", str(tmp_path / "bridge.yaml"), "--from", "2024-01-01"]
    argv += ["--to", "2024-01-02", "--csv", str(path), "--dry-run"]
    out, err = io.StringIO(), io.StringIO()
    assert cli_run([*argv, "--account", "carol"], out, err) == 1
    assert "--account carol: exist.accounts has no account of that name (it has alice, bob)" in (
        err.getvalue()
    )
    assert "Traceback" not in err.getvalue()
    out, err = io.StringIO(), io.StringIO()
    assert cli_run([*argv, "--account", "bob"], out, err) == 0, err.getvalue()
    assert "for account bob" in out.getvalue() and "dry run: nothing sent" in out.getvalue()
    assert mock_exist.state.journal("/api/2/attributes/update/") == []


def test_account_on_a_single_account_configuration_is_refused(mock_exist, tmp_path):
    from ..support.backfill import config

    cfg = config(mock_exist, tmp_path)
    path = tmp_path / "log.csv"
    write_csv(path, ["timestamp", "entity", "state"], log_rows(2)[0])
    options = BackfillOptions(start=FIRST, end=date(2024, 1, 2), csv=path, account="bob")
    with pytest.raises(ValueError, match="--account bob: the configuration names no accounts"):
        run(cfg, options)
    options.account = None  # the single account: as ever, no account named on the plan
    code, out, _ = run(cfg, options)
    assert code == 0 and "for account" not in out


def test_a_single_account_bridges_progress_goes_to_the_first_account(mock_exist, tmp_path):
    """A backfill run by a single-account bridge, then the configuration lists accounts (the
    first with the same token): the bridge's start gives the progress to the first account, so
    the same backfill for it sends nothing again."""
    from mqtt_bridge.accounts import adopt_single_account
    from mqtt_bridge.pipeline.process.mapping import build_mappings

    from ..support.backfill import CONFIG, config

    path = tmp_path / "days.csv"
    write_csv(path, ["date", "attribute", "value"], [["2024-02-01", "steps", "4000"]])
    options = BackfillOptions(start=date(2024, 2, 1), end=date(2024, 2, 1), csv=path)
    assert run(config(mock_exist, tmp_path), options)[0] == 0
    state = tmp_path / "state"
    household = parse_config(
        CONFIG.format(url=mock_exist.url, token="unused", state=state, per_hour=280).replace(
            "  token: unused\n",
            f"  accounts:\n    - name: alice\n      token: {mock_exist.token}\n"
            "    - name: bob\n      token: bob-token\n",
        )
    )
    box = Outbox(state / "outbox.sqlite")
    adopt_single_account(box, state, household, build_mappings(household))
    box.close()
    assert (state / "accounts" / "alice" / "backfill.json").is_file()
    code, out, _ = run(household, options)
    assert code == 0 and "for account alice" in out
    assert "nothing to send: every total was sent by an earlier run" in out
    assert len(mock_exist.state.journal("/api/2/attributes/update/")) == 1
