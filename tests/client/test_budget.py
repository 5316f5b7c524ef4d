"""The request budget: sliding window, margin, persistence across restarts, 429 blocks."""

from __future__ import annotations

import json
import os

import pytest
import responses

from mqtt_bridge.exist.budget import RequestBudget, token_key
from mqtt_bridge.exist.errors import BudgetExhausted

from ..support.exist_client import API, TOKEN, FakeClock


def test_default_is_280_of_300_per_hour():
    budget = RequestBudget()
    assert (budget.limit, budget.allowed, budget.window) == (300, 280, 3600.0)
    assert RequestBudget(allowed=250).margin == 50


def test_sliding_window(clock):
    budget = RequestBudget(limit=4, margin=1, clock=clock)  # 3 per hour
    for _ in range(3):
        budget.reserve("k")
        clock.advance(600)
    # sent at t=0, 600, 1200; now t=1800: the first leaves the window at t=3600
    with pytest.raises(BudgetExhausted) as info:
        budget.reserve("k")
    assert info.value.retry_after == pytest.approx(1800)
    clock.advance(1800)
    budget.reserve("k")  # one slot freed
    with pytest.raises(BudgetExhausted) as info:
        budget.reserve("k")
    assert info.value.retry_after == pytest.approx(600)
    assert budget.status("k").used == 3


def test_refused_reservations_are_not_counted(clock):
    budget = RequestBudget(limit=2, margin=0, clock=clock)
    budget.reserve("k")
    budget.reserve("k")
    for _ in range(5):
        with pytest.raises(BudgetExhausted):
            budget.reserve("k")
    assert budget.status("k").used == 2


def test_keys_are_independent(clock):
    budget = RequestBudget(limit=1, margin=0, clock=clock)
    budget.reserve("a")
    budget.reserve("b")
    with pytest.raises(BudgetExhausted):
        budget.reserve("a")


def test_budget_survives_a_restart(tmp_path, clock):
    path = tmp_path / "budget.json"
    first = RequestBudget(path, limit=3, margin=0, clock=clock)
    for _ in range(3):
        first.reserve("k")
    # a new process: a new instance reading the same file
    second = RequestBudget(path, limit=3, margin=0, clock=clock)
    with pytest.raises(BudgetExhausted):
        second.reserve("k")
    clock.advance(3600)
    second.reserve("k")
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"


def test_throttle_block_survives_a_restart(tmp_path, clock):
    path = tmp_path / "budget.json"
    RequestBudget(path, clock=clock).note_throttled("k", 90)
    again = RequestBudget(path, clock=clock)
    with pytest.raises(BudgetExhausted) as info:
        again.reserve("k")
    assert info.value.retry_after == pytest.approx(90)
    clock.advance(90)
    again.reserve("k")


def test_throttle_without_retry_after_blocks_a_whole_window(clock):
    budget = RequestBudget(clock=clock)
    assert budget.note_throttled("k", None) == 3600
    assert budget.wait_time("k") == pytest.approx(3600)


def test_client_budget_is_persisted_across_new_client_instances(tmp_path, rsps, make_client, clock):
    path = tmp_path / "state" / "budget.json"
    rsps.add(responses.GET, API + "/accounts/profile/", json={"username": "u", "timezone": "UTC"})
    first = make_client(budget=RequestBudget(path, limit=3, margin=1, clock=clock), max_wait=0)
    first.profile()
    first.profile()
    first.close()
    # "restart": a new client and a new budget object on the same file
    second = make_client(budget=RequestBudget(path, limit=3, margin=1, clock=clock), max_wait=0)
    with pytest.raises(BudgetExhausted):
        second.profile()
    assert len(rsps.calls) == 2
    # the file names the token by a hash only
    text = path.read_text()
    assert TOKEN not in text and token_key(TOKEN) in text
    assert len(json.loads(text)["keys"][token_key(TOKEN)]["sent"]) == 2


def test_old_timestamps_are_pruned_from_the_file(tmp_path, clock):
    path = tmp_path / "budget.json"
    budget = RequestBudget(path, clock=clock)
    budget.reserve("old")
    clock.advance(3601)
    budget.reserve("new")
    data = json.loads(path.read_text())
    assert list(data["keys"]) == ["new"]


def test_a_clock_that_went_backwards_still_counts_recent_requests(tmp_path):
    late = FakeClock(1_700_010_000.0)
    path = tmp_path / "budget.json"
    RequestBudget(path, limit=1, margin=0, clock=late).reserve("k")
    early = FakeClock(1_700_000_000.0)  # the wall clock was set back by ~3h
    with pytest.raises(BudgetExhausted):
        RequestBudget(path, limit=1, margin=0, clock=early).reserve("k")


def test_a_corrupt_file_is_replaced(tmp_path, clock):
    path = tmp_path / "budget.json"
    path.write_text("{not json")
    budget = RequestBudget(path, clock=clock)
    budget.reserve("k")
    assert json.loads(path.read_text())["keys"]["k"]["sent"] == [clock.now]


def test_invalid_settings_are_refused():
    with pytest.raises(ValueError):
        RequestBudget(limit=10, margin=10)
    with pytest.raises(ValueError):
        RequestBudget(window=0)
    with pytest.raises(ValueError):
        RequestBudget(allowed=301)
