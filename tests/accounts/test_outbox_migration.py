"""An outbox from the release before accounts (schema 2: no ``totals.account``) read by `status`
before the first start of this version (through temporary views, the file untouched), then
opened by the bridge (schema 3 in one transaction: every row the single account's)."""

from __future__ import annotations

import io
import json
import logging
import sqlite3
import time
from pathlib import Path

from mqtt_bridge import cli
from mqtt_bridge.pipeline.buffer.outbox import Outbox
from mqtt_bridge.state_dir import OUTBOX_FILE

from ..support.config import bridge_config

DAY = "2026-12-07"
# The previous release's tables (2687e73: schema 2, with deadlines' due_at added as it did)
SCHEMA_2 = """
CREATE TABLE totals (
    attribute TEXT NOT NULL, date TEXT NOT NULL, mode TEXT NOT NULL,
    delta NUMERIC NOT NULL DEFAULT 0, value TEXT, base TEXT,
    base_known INTEGER NOT NULL DEFAULT 0, version INTEGER NOT NULL DEFAULT 0,
    sent_version INTEGER NOT NULL DEFAULT 0, sent_value TEXT,
    events INTEGER NOT NULL DEFAULT 0, updated_at REAL, sent_at REAL,
    failed_version INTEGER, failed_code TEXT, failed_error TEXT,
    PRIMARY KEY (attribute, date)
);
ALTER TABLE totals ADD COLUMN due_at REAL;
CREATE TABLE recent (slot INTEGER PRIMARY KEY, mid INTEGER NOT NULL, topic TEXT NOT NULL,
    digest BLOB NOT NULL);
CREATE TABLE edge_state (key TEXT PRIMARY KEY, state TEXT NOT NULL, seen REAL);
CREATE TABLE dead_letters (id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL,
    kind TEXT NOT NULL, topic TEXT, detail TEXT NOT NULL, payload BLOB);
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE backfilled (attribute TEXT NOT NULL, date TEXT NOT NULL, at REAL,
    PRIMARY KEY (attribute, date));
"""


def old_outbox(state) -> None:
    """Four coffees pending (not yet sent), steps sent, a backfilled day, a meter's state."""
    state.mkdir(parents=True)
    db = sqlite3.connect(state / OUTBOX_FILE)
    db.executescript(SCHEMA_2)
    now = time.time()
    db.executemany(
        "INSERT INTO totals (attribute, date, mode, delta, value, version, sent_version, "
        "events, updated_at, due_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            ("coffees", DAY, "increment", 4, None, 4, 0, 4, now, now + 3600),
            ("steps", DAY, "update", 0, "8031", 3, 3, 3, now, None),
        ],
    )
    db.execute("INSERT INTO backfilled VALUES ('steps', '2026-12-01', ?)", (now,))
    db.execute(
        "INSERT INTO edge_state VALUES (?, ?, ?)",
        (
            '["coffees", "counter", "meter/kitchen", "cups", null] meter/kitchen',
            '{"reading": 50}',
            now,
        ),
    )
    db.executemany(
        "INSERT INTO meta VALUES (?, ?)", [("schema", "2"), ("run", "1"), ("stopped", "1")]
    )
    db.execute("INSERT INTO counters VALUES ('messages', 7)")
    db.commit()
    db.close()


def config(tmp_path, household: bool) -> str:
    exist = (
        {
            "accounts": [
                {"name": "alice", "token": "alice-t0ken"},
                {"name": "bob", "token": "bob-t0ken"},
            ]
        }
        if household
        else None
    )
    path = tmp_path / ("household.yaml" if household else "single.yaml")
    path.write_text(
        bridge_config(
            url="http://127.0.0.1:9",
            token=None if household else "alice-t0ken",
            port=1883,
            state_dir=tmp_path / "state",
            exist=exist,
            attributes=[{"template": "coffees"}, {"template": "steps"}],
            mappings=[
                {"topic": "button/alice", "attribute": "coffees"},
                {"topic": "home/alice/steps", "attribute": "steps", "mode": "update"},
            ],
        )
    )
    return str(path)


def status_json(path: str) -> dict:
    out, err = io.StringIO(), io.StringIO()
    assert cli.run(["status", "-c", path, "--json"], out, err) == 0, err.getvalue()
    return json.loads(out.getvalue())


def schema_of(state) -> str:
    db = sqlite3.connect(f"{(state / OUTBOX_FILE).as_uri()}?mode=ro", uri=True)
    try:
        return db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()[0]
    finally:
        db.close()


def test_status_reads_an_outbox_of_the_previous_release_without_changing_it(tmp_path):
    state = tmp_path / "state"
    old_outbox(state)
    single = status_json(config(tmp_path, household=False))
    assert single["pending_rows"] == 1
    (row,) = [r for r in single["totals"] if r["state"] == "pending"]
    assert (row["attribute"], row["total"], "account" in row) == ("coffees", 4, False)
    household = status_json(config(tmp_path, household=True))
    assert household["pending_rows"] == 1
    (row,) = [r for r in household["totals"] if r["state"] == "pending"]
    assert row["account"] == ""
    # the next start hands the single account's totals to the first account, which sends them
    assert "next start hands it to account alice" in row["why"], row["why"]
    assert schema_of(state) == "2"  # status wrote nothing


def test_the_first_start_moves_every_row_to_the_single_account_in_one_log_line(tmp_path, caplog):
    state = tmp_path / "state"
    old_outbox(state)
    caplog.set_level(logging.INFO, logger="exist_bridge.outbox")
    box = Outbox(state / OUTBOX_FILE)
    try:
        assert schema_of(state) == "3"
        lines = [r.getMessage() for r in caplog.records if "schema 3" in r.getMessage()]
        assert len(lines) == 1 and "the 2 written before" in lines[0]
        assert box.pending_by_account() == {"": 1}
        single = Outbox(state / OUTBOX_FILE, account="")
        (pending,) = single.pending()
        assert (pending.attribute, pending.version, pending.events) == ("coffees", 4, 4)
        assert list(single.deadlines()) == [DAY]
        assert single.deadlines()[DAY] > time.time()  # its deadline kept (due in an hour)
        single.close()
        rows = box.db.execute("SELECT account, attribute, date FROM backfilled").fetchall()
        assert rows == [("", "steps", "2026-12-01")]
        assert list(box.edge_states().values()) == [{"reading": 50}]
    finally:
        box.close()
    Outbox(state / OUTBOX_FILE).close()  # a second start: nothing more to migrate
    assert len([r for r in caplog.records if "schema 3" in r.getMessage()]) == 1


def test_the_first_account_adopts_unsent_totals_of_days_it_has_too(tmp_path):
    """Totals the single account counted (a reload to a single-account file, then back) on days
    the first account has totals of too: added to its rows when nothing of them reached Exist;
    a total partly sent, or of another mode, stays the single account's (kept, named at start)."""
    from mqtt_bridge.pipeline.buffer.outbox import Commit, Effect

    box = Outbox(tmp_path / OUTBOX_FILE)
    mine = Outbox(tmp_path / OUTBOX_FILE, account="alice")
    single = Outbox(tmp_path / OUTBOX_FILE, account="")

    def add(account: str, attribute: str, mode: str, value, date: str = DAY) -> None:
        box.commit([Commit(effects=[Effect(attribute, date, mode, value, account=account)])])

    add("alice", "coffees", "increment", 3)
    (row,) = mine.pending()
    mine.set_base("coffees", DAY, 10)
    mine.mark_sent("coffees", DAY, row.version, 13)  # alice's 3 reached Exist
    add("", "coffees", "increment", 2)  # never sent: added to alice's
    add("alice", "money", "increment", 0.1)
    add("", "money", "increment", 0.2)
    add("alice", "steps", "update", 100)
    add("", "steps", "update", 250)  # later: wins
    add("", "weight", "update", 70)
    add("alice", "weight", "update", 71)  # alice's is later: stays
    add("alice", "mood", "update", 3)
    add("", "mood", "increment", 1)  # another mode: stays the single account's
    add("alice", "tea", "increment", 1)
    add("", "tea", "increment", 4)
    (tea,) = [p for p in single.pending() if p.attribute == "tea"]
    single.set_base("tea", DAY, 0)
    single.mark_sent("tea", DAY, tea.version, 4)
    add("", "tea", "increment", 1)  # partly sent: stays
    add("", "coffees", "increment", 5, date="2026-12-06")  # a day alice hasn't: moves
    assert box.adopt_rows("", "alice") == 5
    assert mine.totals() == {
        ("coffees", DAY): 15,
        ("money", DAY): 0.3,
        ("steps", DAY): 250,
        ("weight", DAY): 71,
        ("mood", DAY): 3,
        ("tea", DAY): 1,
        ("coffees", "2026-12-06"): 5,
    }
    pending = {p.attribute: p for p in mine.pending() if p.date == DAY}
    assert pending["coffees"].total == 15 and pending["coffees"].events == 2
    assert mine.deadlines()[DAY] == 0  # due now
    assert sorted(single.totals()) == [("mood", DAY), ("tea", DAY)]
    for outbox in (single, mine, box):
        outbox.close()


def test_each_start_names_what_the_first_account_could_not_adopt(tmp_path, caplog):
    from mqtt_bridge.accounts import warn_unlisted
    from mqtt_bridge.config import parse_config
    from mqtt_bridge.pipeline.buffer.outbox import Commit, Effect

    box = Outbox(tmp_path / OUTBOX_FILE)
    box.commit([Commit(effects=[Effect("mood", DAY, "increment", 1)])])
    caplog.set_level(logging.WARNING, logger="exist_bridge")
    warn_unlisted(box, parse_config(Path(config(tmp_path, household=True)).read_text()))
    box.close()
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith(
        "1 total(s) of the single account of an earlier exist.token wait in the outbox: account "
        "alice has totals of the same days they can't be added to"
    ), line


def test_the_first_accounts_backfill_leaves_the_single_accounts_days_to_the_bridge(tmp_path):
    """Before the household's first start, the single account's rows are the first account's to
    be: a backfill for that account must not claim their days (the start would adopt the rows and
    add their events on top of the history's totals)."""
    from mqtt_bridge.pipeline.buffer.outbox import Commit, Effect, Outbox

    path = tmp_path / "outbox.sqlite"
    single = Outbox(path)
    single.commit([Commit(effects=[Effect("coffees", "2026-12-01", "increment", 2)])])
    keys = [("coffees", "2026-12-01"), ("coffees", "2026-12-02")]
    alice = Outbox(path, account="alice")
    alice.claim_also = ("",)
    assert alice.claim_backfill(keys) == {("coffees", "2026-12-01")}  # left to the bridge
    bob = Outbox(path, account="bob")  # another account: the single account's rows aren't his
    assert bob.claim_backfill(keys) == set()
    claimed = single.db.execute("SELECT account, date FROM backfilled ORDER BY account, date")
    assert claimed.fetchall() == [
        ("alice", "2026-12-02"),
        ("bob", "2026-12-01"),
        ("bob", "2026-12-02"),
    ]
    for box in (single, alice, bob):
        box.close()
