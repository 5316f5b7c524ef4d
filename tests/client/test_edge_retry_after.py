"""Issue 11, item 2: a ``Retry-After`` is believed only up to Exist's hourly window (plus a
margin), a missing one means "until the window frees", a pause already stored beyond the cap is
capped when read back, and ``exist-bridge status`` says why requests wait."""

from __future__ import annotations

import io
import json
import time

import pytest
import responses

from mqtt_bridge.cli import run as cli_run
from mqtt_bridge.exist.budget import RETRY_AFTER_MARGIN, WINDOW, RequestBudget, token_key
from mqtt_bridge.exist.errors import BudgetExhausted, RateLimited
from mqtt_bridge.pipeline.buffer.outbox import Outbox

from .conftest import API, TOKEN

CAP = WINDOW + RETRY_AFTER_MARGIN
UPDATE = API + "/attributes/update/"


def test_a_huge_retry_after_is_capped(clock):
    budget = RequestBudget(clock=clock)
    assert budget.note_throttled("k", 999_999_999) == CAP
    assert budget.wait_time("k") == pytest.approx(CAP)
    assert "capped" in budget.status("k").reason
    clock.advance(CAP)
    budget.reserve("k")


def test_a_believable_retry_after_is_kept(clock):
    budget = RequestBudget(clock=clock)
    assert budget.note_throttled("k", 120) == 120
    assert budget.status("k").reason == "rate-limited by Exist (429, Retry-After 120s)"


def test_a_missing_retry_after_waits_until_the_window_frees(clock):
    budget = RequestBudget(clock=clock)
    for _ in range(5):
        budget.reserve("k")
    clock.advance(1800)
    assert budget.note_throttled("k", None) == pytest.approx(1800)
    assert "without Retry-After" in budget.status("k").reason


def test_the_client_caps_a_429s_retry_after(rsps, make_client, clock):
    client = make_client(max_wait=0)
    rsps.add(responses.POST, UPDATE, status=429, headers={"Retry-After": "999999999"})
    with pytest.raises(RateLimited) as info:
        client.update([{"name": "steps", "date": "2024-01-02", "value": 1}])
    assert info.value.retry_after == CAP
    assert client.budget.wait_time(token_key(TOKEN)) == pytest.approx(CAP)


def poison(path, now: float, key: str = "k") -> None:
    """A budget file written by an older bridge that believed a 31-year Retry-After."""
    path.write_text(
        json.dumps({"version": 1, "keys": {key: {"sent": [], "blocked_until": now + 999_999_999}}})
    )


def test_a_stored_pause_beyond_the_cap_is_capped_at_start(tmp_path, clock):
    path = tmp_path / "budget.json"
    poison(path, clock())
    budget = RequestBudget(path, clock=clock)
    with pytest.raises(BudgetExhausted) as info:
        budget.reserve("k")
    assert info.value.retry_after == pytest.approx(CAP)
    clock.advance(CAP)
    budget.reserve("k")  # recovered


def test_status_says_why_it_waits(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    Outbox(state / "outbox.sqlite").close()
    poison(state / "budget.json", time.time(), token_key(TOKEN))
    cfg = tmp_path / "bridge.yaml"
    cfg.write_text(
        f"exist:\n  token: {TOKEN}\nmqtt:\n  host: 127.0.0.1\nbridge:\n  state_dir: {state}\n"
        "attributes:\n  - template: coffees\n"
        "mappings:\n  - {topic: button/coffee, attribute: coffees}\n"
    )
    out, err = io.StringIO(), io.StringIO()
    assert cli_run(["status", "-c", str(cfg)], out, err) == 0, err.getvalue()
    text = out.getvalue()
    assert "waiting:         rate-limited by Exist" in text, text
    assert "capped" in text
    wait = int(text.split("next in ")[1].split("s")[0])
    assert CAP - 5 <= wait <= CAP
    out = io.StringIO()
    assert cli_run(["status", "-c", str(cfg), "--json"], out, err) == 0
    assert "capped" in json.loads(out.getvalue())["budget"]["waiting_because"]
