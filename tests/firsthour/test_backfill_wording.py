"""`exist-bridge backfill` says what it read: day totals are day totals, not events, and a run
with nothing left to send says that once, not "0 total(s) in 0 request(s) ... so all go now"
(issue 24, item 8)."""

from __future__ import annotations

import io

from mqtt_bridge.cli import run as cli_run

from ..support.backfill import CONFIG, write_csv

DAYS = [f"2024-02-{d:02d}" for d in range(1, 8)]


def backfill(path, csv) -> tuple[int, list[str]]:
    out, err = io.StringIO(), io.StringIO()
    code = cli_run(["backfill", "-c", str(path), "--csv", str(csv), "--from", DAYS[0]], out, err)
    assert code == 0, out.getvalue() + err.getvalue()
    return code, out.getvalue().splitlines()


def test_day_totals_are_said_as_day_totals_and_a_repeat_sends_nothing_once(mock_exist, tmp_path):
    path = tmp_path / "bridge.yaml"
    path.write_text(
        CONFIG.format(url=mock_exist.url, token=mock_exist.token, state=tmp_path, per_hour=280)
    )
    csv = tmp_path / "days.csv"
    write_csv(csv, ["date", "attribute", "value"], [[d, "steps", "4000"] for d in DAYS])

    _, lines = backfill(path, csv)
    assert "read 7 day total(s): 7 in range" in lines
    assert not [line for line in lines if "event(s)" in line]

    _, lines = backfill(path, csv)  # again: everything was sent
    assert "already sent by an earlier run: 7 total(s)" in lines
    assert lines[-1] == "nothing to send: every total was sent by an earlier run"
    assert not [line for line in lines if line.startswith("to send:") or "all go now" in line]
    assert sum("nothing to send" in line for line in lines) == 1
