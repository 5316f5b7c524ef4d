"""Issue 5, scenario 3: Exist is down for a long stretch, first answering 503 and then not even
accepting connections (connection refused, pooled connections reset), and then recovers:
everything arrives exactly once, and the bridge never spent more than its request budget.

How "a long stretch" fits in a test: the bridge's budget is made small (``requests_per_hour``
16) so the outage exhausts it within seconds; its clock and the mock's clock then jump one hour
together (the budget's clock is the wall clock shifted by ``skew``, the mock's clock is advanced
by the same amount), which is what an outage of more than an hour looks like to both sides.
The bridge's flush loop is then asleep for the ~1 h its budget asked for, so the test runs the
next flush itself rather than waiting that hour.

Connection refused: the bridge talks to the mock through ``DownableProxy``, which can close its
port and every open connection and later listen on the same port again. (Stopping the mock's
werkzeug server would leave already accepted keep-alive connections served.)
"""

from __future__ import annotations

import random
import time

import pytest

from mqtt_bridge.exist.budget import token_key

from ..support.faults import (
    FaultBridge,
    assert_never_double_counted,
    config_text,
    duplicates,
    fast_retries,
    landed,
    report,
    requests_in_any_hour,
    wait_until,
)
from ..support.proxy import DownableProxy

pytestmark = pytest.mark.slow  # mosquitto, subprocesses or seconds of work: see pyproject

BUDGET = 16


def test_long_outage_then_recovery_delivers_everything_within_budget(
    mock_exist, mosquitto, tmp_path, caplog
):
    rng = random.Random(5_0003)
    state = mock_exist.state
    proxy = DownableProxy(mock_exist.port)
    skew = [0.0]

    def skewed_budget(bridge) -> None:
        bridge.exist.client.budget.clock = lambda: time.time() + skew[0]

    text = config_text(
        mock_exist, mosquitto.port, tmp_path / "state", rph=BUDGET, base_url=proxy.url
    )
    fb = FaultBridge(
        mock_exist, mosquitto, tmp_path / "state", text=text, before_start=skewed_budget
    )
    asked = fast_retries(fb.bridge)
    budget = fb.bridge.exist.client.budget
    key = token_key(mock_exist.token)
    try:
        fb.events(rng, 15)
        fb.settle()
        fb.wait_delivered()
        before_outage = landed(state)

        # --- 503 for everything
        state.add_fault("/api/2/*", status=503, count=None)
        fb.events(rng, 15, pause_every=5, pause=0.3)
        wait_until(lambda: sum(j["status"] == 503 for j in state.journal()) >= 1, timeout=60)

        # --- connection refused (and every open connection reset)
        proxy.down()
        fb.events(rng, 15, pause_every=5, pause=0.3)
        fb.settle()
        wait_until(lambda: budget.status(key).remaining == 0, timeout=60)
        wait_until(
            lambda: (
                fb.bridge.last_report is not None
                and fb.bridge.last_report.postponed is not None
                and fb.bridge.last_report.postponed.seconds > 600
            ),
            timeout=60,
        )
        assert landed(state) == before_outage  # nothing got through meanwhile

        # --- Exist is back, but the budget is spent: the bridge waits, sends nothing
        state.clear_faults()
        proxy.up()
        seen = len(state.journal())
        time.sleep(2.0)
        assert len(state.journal()) == seen
        assert landed(state) == before_outage

        # --- an hour later (both clocks): everything arrives
        skew[0] += 3600
        state.clock.advance(3600)
        fb.bridge.flusher.flush_once()  # the loop would, after the hour its budget asked for
        fb.wait_delivered(timeout=30)
        fb.events(rng, 5)
        fb.settle()
        fb.bridge.flusher.flush_once()
        fb.wait_delivered(timeout=30)

        assert landed(state) == dict(fb.truth)
        assert_never_double_counted(state, fb.truth)
        journal = state.journal()
        assert requests_in_any_hour(journal) <= BUDGET, [
            (j["time"], j["path"], j["status"]) for j in journal
        ]
        # the outage really was long and hard: 503s were answered, the budget ran out
        # (refused connections count in it without reaching the journal), backoff was asked for
        assert sum(j["status"] == 503 for j in journal) >= 1
        assert asked
        assert any("Connection refused" in r.getMessage() for r in caplog.records)
        report(
            "3 Exist down",
            f"503 x{sum(j['status'] == 503 for j in journal)}, then connection refused; "
            f"budget {BUDGET}/h, 1 h skipped",
            fb.published,
            state,
            fb.truth,
        )
        assert duplicates(state, fb.truth) == 0
    finally:
        fb.close()
        proxy.close()
