"""Issue 5, scenario 4: a 429 storm. Exist's per-token limit is set far below what the bridge
would like to send; the bridge must honour every ``Retry-After`` (never a second 429 before the
first one's wait is over), never exceed its own budget, and lose nothing.

Which clock? The mock counts requests per sliding hour of *its* clock; the bridge's budget counts
them per sliding hour of the wall clock. Comparing both is only meaningful when they are the same
clock, so the tests that move time give the bridge's budget the mock's clock
(``budget.clock = state.clock.timestamp``): the journal's timestamps are then exactly what the
budget counted, and "an hour later" is one ``clock.advance(3600)`` for both. The flush loop sleeps
in real time (for the ~1 h the budget asks), so those tests run the next flushes themselves.
The short-window storm runs in real time only (a 10 s window), so the client's own in-request
waits for ``Retry-After`` are exercised as they are in production.
"""

from __future__ import annotations

import random
import time

import pytest

from ..support.faults import (
    FaultBridge,
    assert_never_double_counted,
    duplicates,
    landed,
    report,
    requests_in_any_hour,
    wait_until,
)

pytestmark = pytest.mark.slow  # mosquitto, subprocesses or seconds of work: see pyproject


def api_requests(state) -> list[dict]:
    return sorted(state.journal("/api/2/"), key=lambda j: j["id"])


def assert_no_429_after_a_429(journal: list[dict]) -> None:
    """After a 429 the bridge waits out ``Retry-After``, so its next request is accepted."""
    statuses = [j["status"] for j in journal]
    for before, after in zip(statuses, statuses[1:], strict=False):
        assert not (before == 429 and after == 429), statuses


def test_short_window_storm_every_retry_after_is_honoured(mock_exist, mosquitto, tmp_path):
    rng = random.Random(5_0004)
    state = mock_exist.state
    fb = FaultBridge(mock_exist, mosquitto, tmp_path / "state", interval=1)
    try:
        state.set_rate_limit(3, window=10)  # ~10 times less than a 1 s flush interval needs
        # 16 s of events, a flush wants each second: the stream outlasts the first Retry-After
        # (~9 s) and the 3 requests that follow it, whatever the flusher's phase
        fb.events(rng, 64, pause_every=4, pause=1.0)
        fb.settle()
        fb.wait_delivered(timeout=90)
        journal = api_requests(state)
        throttled = sum(j["status"] == 429 for j in journal)
        assert throttled >= 2  # the storm happened
        assert_no_429_after_a_429(journal)
        assert landed(state) == dict(fb.truth)
        assert_never_double_counted(state, fb.truth)
        report(
            "4a 429 storm",
            f"limit 3 per 10 s; {throttled} x 429",
            fb.published,
            state,
            fb.truth,
        )
    finally:
        fb.close()


def _shared_clock(state):
    def setup(bridge) -> None:
        bridge.exist.client.budget.clock = state.clock.timestamp

    return setup


def _deliver_hour_by_hour(fb, state, hours: int = 12) -> int:
    """Flush once per (mock) hour until everything is in Exist; returns the hours it took."""
    for hour in range(1, hours + 1):
        state.clock.advance(3600)
        fb.bridge.flusher.flush_once()
        if fb.delivered():
            return hour
    raise AssertionError(f"not delivered after {hours} h: {landed(state)} != {dict(fb.truth)}")


def test_long_retry_after_is_honoured_and_nothing_is_lost(mock_exist, mosquitto, tmp_path):
    rng = random.Random(5_0014)
    state = mock_exist.state
    fb = FaultBridge(
        mock_exist, mosquitto, tmp_path / "state", interval=1, before_start=_shared_clock(state)
    )
    try:
        state.set_rate_limit(5)  # per hour; the bridge's own budget is 280
        for _ in range(4):
            fb.events(rng, 10, pause_every=5, pause=0.6)
        fb.settle()
        # sooner or later Exist says 429 with a Retry-After of up to an hour
        wait_until(lambda: any(j["status"] == 429 for j in state.journal()), timeout=60)
        wait_until(
            lambda: (
                fb.bridge.last_report is not None and fb.bridge.last_report.postponed is not None
            ),
            timeout=30,
        )
        seen = len(state.journal())
        time.sleep(2.0)
        assert len(state.journal()) == seen  # blocked: not a single request meanwhile
        hours = _deliver_hour_by_hour(fb, state)
        journal = api_requests(state)
        assert_no_429_after_a_429(journal)
        accepted = [j for j in journal if j["status"] != 429]
        assert requests_in_any_hour(accepted) <= 5
        assert landed(state) == dict(fb.truth)
        assert_never_double_counted(state, fb.truth)
        report(
            "4b 429, Retry-After up to 1 h",
            f"limit 5/h (mock clock); {sum(j['status'] == 429 for j in journal)} x 429, "
            f"delivered {hours} h later",
            fb.published,
            state,
            fb.truth,
        )
        assert duplicates(state, fb.truth) == 0
    finally:
        fb.close()


def test_budget_below_exists_limit_means_no_429_at_all(mock_exist, mosquitto, tmp_path):
    rng = random.Random(5_0024)
    state = mock_exist.state
    state.set_rate_limit(5)
    fb = FaultBridge(
        mock_exist,
        mosquitto,
        tmp_path / "state",
        interval=1,
        rph=4,
        before_start=_shared_clock(state),
    )
    try:
        for _ in range(4):
            fb.events(rng, 10, pause_every=5, pause=0.6)
        fb.settle()
        time.sleep(1.0)
        _deliver_hour_by_hour(fb, state)
        journal = api_requests(state)
        assert not [j for j in journal if j["status"] == 429]
        assert requests_in_any_hour(journal) <= 4
        assert landed(state) == dict(fb.truth)
        assert_never_double_counted(state, fb.truth)
        report(
            "4c budget 4/h under Exist's 5/h",
            "limit 5/h (mock clock); 0 x 429",
            fb.published,
            state,
            fb.truth,
        )
    finally:
        fb.close()
