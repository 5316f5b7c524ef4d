"""Issue 5, scenario 7: another service takes ownership of the bridge's attributes mid-stream
(it acquires them by name, as Exist lets any service do). The bridge's next write is refused
(``unauthorised``); it must acquire the attribute back, send the refused items again and lose
nothing. The takeover happens several times, on different attributes, between flushes."""

from __future__ import annotations

import random

import pytest
import requests

from ..support.faults import (
    ATTRIBUTES,
    FaultBridge,
    assert_never_double_counted,
    landed,
    report,
    wait_until,
)

pytestmark = pytest.mark.slow  # mosquitto, subprocesses or seconds of work: see pyproject


def test_attribute_taken_by_another_service_is_reacquired(mock_exist, mosquitto, tmp_path):
    rng = random.Random(5_0007)
    state = mock_exist.state
    state.add_client("rival_app", "rival_secret", ["http://localhost:9/"], label="Rival app")
    rival = state.issue_token(client_id="rival_app")["access_token"]
    fb = FaultBridge(mock_exist, mosquitto, tmp_path / "state", interval=1)
    takeovers = 0
    try:
        for round_ in range(6):
            fb.events(rng, 12, pause_every=4, pause=0.3)
            fb.settle()
            fb.wait_delivered()
            victims = ATTRIBUTES if round_ == 3 else [rng.choice(ATTRIBUTES)]
            answer = requests.post(
                f"{mock_exist.url}/api/2/attributes/acquire/",
                json=[{"name": name} for name in victims],
                headers={"Authorization": f"Bearer {rival}"},
                timeout=10,
            )
            assert answer.status_code == 200, answer.text
            for name in victims:
                assert state.attribute(name)["service"]["name"] == "rival_app"
            takeovers += len(victims)
        fb.events(rng, 12)
        fb.settle()
        fb.wait_delivered(timeout=60)
        wait_until(
            lambda: all(state.attribute(n)["service"]["name"] == "mock_client" for n in ATTRIBUTES)
        )

        assert landed(state) == dict(fb.truth)
        assert_never_double_counted(state, fb.truth)
        writes = state.journal("/api/2/attributes/")
        refused = [j for j in writes if j["path"].endswith("/update/") and j["status"] == 202]
        assert len(refused) >= 6  # every takeover cost one refused write...
        reacquired = [
            j for j in writes if j["path"].endswith("/acquire/") and j["client_id"] == "mock_client"
        ]
        assert len(reacquired) >= 1 + 6  # ...and an acquire (the first one is the bootstrap)
        assert not [e for e in state.ledger() if e["client_id"] == "rival_app"]
        report(
            "7 ownership taken",
            f"another client acquired {takeovers} attribute(s) in 6 takeovers",
            fb.published,
            state,
            fb.truth,
        )
    finally:
        fb.close()
