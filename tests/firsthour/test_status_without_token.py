"""`exist-bridge status` without `EXIST_TOKEN` says why the token is missing in one flat clause,
never parentheses inside parentheses (issue 24, item 4)."""

from __future__ import annotations

import os
import re
import subprocess

from mqtt_bridge.exist.budget import RequestBudget, token_key
from mqtt_bridge.pipeline.buffer.outbox import Outbox
from mqtt_bridge.state_dir import BUDGET_FILE, OUTBOX_FILE

from ..support.bridge import BRIDGE_CMD
from ..support.config import Env, write_bridge_config

NESTED = re.compile(r"\([^()]*\(")  # an opening parenthesis before the previous one closed


def make(tmp_path, sent: bool):
    path = write_bridge_config(
        tmp_path / "bridge.yaml",
        attributes=[{"template": "coffees"}],
        mappings=[{"topic": "a", "attribute": "coffees"}],
        state_dir=tmp_path / "state",
        token=Env("EXIST_TOKEN"),
        url="http://127.0.0.1:9",
        port=1883,
    )
    (tmp_path / "state").mkdir()
    Outbox(tmp_path / "state" / OUTBOX_FILE).close()
    if sent:
        budget = RequestBudget(tmp_path / "state" / BUDGET_FILE, allowed=280)
        budget.reserve(token_key("the-real-token"))
    return path


def without_token(path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "EXIST_TOKEN"}
    command = [*BRIDGE_CMD, "status", "-c", str(path)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)


def test_the_budget_of_the_last_token_says_why_without_nesting(tmp_path):
    done = without_token(make(tmp_path, sent=True))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("budget:"))
    assert lines[at] == "budget:          279 of 280 requests left this hour"
    assert lines[at + 1] == (
        "                 the budget of the token that sent the last request; the token is not "
        "available here: environment variable EXIST_TOKEN is not set, from !env EXIST_TOKEN"
    )
    assert not [line for line in lines if NESTED.search(line)], done.stdout


def test_no_request_yet_says_why_without_nesting(tmp_path):
    done = without_token(make(tmp_path, sent=False))
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("budget:"))
    assert line == (
        "budget:          unknown: no request recorded, and the token is not available here: "
        "environment variable EXIST_TOKEN is not set, from !env EXIST_TOKEN"
    )
    assert not [x for x in done.stdout.splitlines() if NESTED.search(x)], done.stdout
