"""`exist-bridge status` reads local files only: it works without the Exist token in the
environment, its --json is always JSON (errors too) with every documented field, and after a
kill -9 it does not claim a broker connection from the dead bridge's last heartbeat."""

from __future__ import annotations

import io
import json
import time

from mqtt_bridge import cli
from mqtt_bridge.exist.budget import RequestBudget, token_key
from mqtt_bridge.pipeline.buffer.outbox import Outbox
from mqtt_bridge.state_dir import BUDGET_FILE, HEALTH_FILE, OUTBOX_FILE

from ..support.config import Env, write_bridge_config

TOKEN_ENV = Env("EXIST_TOKEN")


def _config(tmp_path, token=TOKEN_ENV):
    return write_bridge_config(
        tmp_path / "bridge.yaml",
        url="http://127.0.0.1:9",
        token=token,
        port=1883,
        state_dir=tmp_path / "state",
        attributes=[{"template": "coffees"}],
        mappings=[{"topic": "a", "attribute": "coffees"}],
    )


def _state(tmp_path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    Outbox(state / OUTBOX_FILE).close()


def _status(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.run(["status", *args], out, err)
    return code, out.getvalue(), err.getvalue()


def test_status_works_without_the_token_in_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("EXIST_TOKEN", raising=False)
    cfg = _config(tmp_path)
    _state(tmp_path)
    budget = RequestBudget(tmp_path / "state" / BUDGET_FILE, allowed=280)
    budget.reserve(token_key("the-real-token"))  # one request sent by the bridge with its token
    code, out, err = _status("-c", str(cfg))
    assert code == 0, err
    lines = out.splitlines()
    at = next(i for i, x in enumerate(lines) if x.startswith("budget:"))
    assert "279 of 280" in lines[at]
    assert "EXIST_TOKEN" in lines[at + 1]  # says where the key came from, instead of the token
    code, out, err = _status("-c", str(cfg), "--json")
    assert code == 0, err
    assert json.loads(out)["budget"]["left"] == 279


def test_status_json_prints_errors_as_json(tmp_path):
    cfg = _config(tmp_path, token="t0ken")
    code, out, err = _status("-c", str(cfg), "--json")  # no state yet
    assert code == 1
    answer = json.loads(out)
    assert "no bridge state" in answer["error"]
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / OUTBOX_FILE).write_bytes(b"")  # lost: truncated to 0 bytes
    code, out, err = _status("-c", str(cfg), "--json")
    assert code == 1
    assert json.loads(out)["error"]


def test_status_json_has_every_documented_counter(tmp_path):
    cfg = _config(tmp_path, token="t0ken")
    _state(tmp_path)
    code, out, err = _status("-c", str(cfg), "--json")
    assert code == 0, err
    counters = json.loads(out)["counters"]
    for name in ("messages", "events", "skipped", "duplicates_ignored", "unmatched"):
        assert counters[name] == 0, name


def test_status_after_kill_9_does_not_claim_a_broker_connection(tmp_path):
    cfg = _config(tmp_path, token="t0ken")
    _state(tmp_path)
    now = time.time()
    # the heartbeat a SIGKILLed bridge left 20 s ago; no process holds the lock
    (tmp_path / "state" / HEALTH_FILE).write_text(
        json.dumps(
            {
                "pid": 999999,
                "at": now - 20,
                "broker_connected": True,
                "stopped": False,
                "broker": {
                    "host": "127.0.0.1",
                    "port": 1883,
                    "connected": True,
                    "since": now - 60,
                    "last_error": None,
                    "last_error_at": None,
                    "failed_attempts": 0,
                },
            }
        )
    )
    code, out, err = _status("-c", str(cfg))
    line = next(x for x in out.splitlines() if x.startswith("broker:"))
    assert "connected to" not in line and "not running" in line, line
    code, out, err = _status("-c", str(cfg), "--json")
    status = json.loads(out)
    assert status["running"] is False
    assert status["broker"]["connected"] is None  # unknown: no bridge runs
    assert status["broker"]["bridge_running"] is False
