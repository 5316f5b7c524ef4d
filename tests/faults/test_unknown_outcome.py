"""Issue 5, scenario 2: "unknown outcome". Exist applies a write and then the answer is lost
(``apply_then_fail``: state changed, ledger written, a 502 answered), again and again, on both
write paths. The bridge can't know the write landed, so it sends it again: nothing may be counted
twice. Each round writes a new local date, so every round has new rows whose starting value is
learned with ``increment`` 0 (faulted too) before ``update`` sends the totals (faulted K times:
with K <= 3 the client's own retries absorb it, with K = 5 a whole flush fails and a later one
resends)."""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from ..support.faults import (
    ATTRIBUTES,
    TOPICS,
    FaultBridge,
    assert_never_double_counted,
    duplicates,
    fast_retries,
    landed,
    landed_by_date,
    report,
    wait_until,
)

pytestmark = pytest.mark.slow  # mosquitto, subprocesses or seconds of work: see pyproject

ROUNDS = [  # (faults on update/, faults on increment/)
    (1, 1),
    (2, 3),
    (5, 1),
    (3, 2),
    (5, 5),
]
EVENTS_PER_ROUND = 30


def test_applied_then_failed_writes_are_never_counted_twice(mock_exist, mosquitto, tmp_path):
    rng = random.Random(5_0002)
    state = mock_exist.state
    noon = datetime.now(timezone.utc).replace(hour=12, minute=0, second=0, microsecond=0)
    now = {"t": (noon - timedelta(days=len(ROUNDS))).timestamp()}
    started = time.monotonic()
    # the bridge's clock ticks from each round's noon: its deadlines (event_delay 1 s) come due
    fb = FaultBridge(mock_exist, mosquitto, tmp_path / "state",
                     clock=lambda: now["t"] + time.monotonic() - started)  # fmt: skip
    fast_retries(fb.bridge)
    by_date: Counter[tuple[str, str]] = Counter()
    try:
        for r, (k_update, k_increment) in enumerate(ROUNDS):
            now["t"] = (noon - timedelta(days=len(ROUNDS) - r)).timestamp()
            day = datetime.fromtimestamp(now["t"], timezone.utc).date().isoformat()
            state.add_fault(
                "/api/2/attributes/update/", status=502, mode="apply_then_fail", count=k_update
            )
            state.add_fault(
                "/api/2/attributes/increment/",
                status=502,
                mode="apply_then_fail",
                count=k_increment,
            )
            for i in range(EVENTS_PER_ROUND):
                topic = rng.choice(sorted(TOPICS))
                fb.event(topic)
                by_date[(TOPICS[topic], day)] += 1
                if i % 10 == 9:
                    time.sleep(0.4)  # let flushes happen mid-stream
            fb.settle()
            wait_until(
                lambda: not any(r.active for r in state.faults.rules),  # every fault fired
                timeout=60,
            )
            fb.wait_delivered(timeout=60)

        # exactly the truth, per attribute and per date
        assert landed(state) == dict(fb.truth)
        for name in ATTRIBUTES:
            want = {d: n for (a, d), n in by_date.items() if a == name}
            assert landed_by_date(state, name) == want, name
        assert_never_double_counted(state, fb.truth)
        assert duplicates(state, fb.truth) == 0

        # the faults really bit: writes were applied by Exist and answered 502
        journal = state.journal("/api/2/attributes/")
        faulted = {j["id"]: j["path"] for j in journal if j["fault"] == "apply_then_fail"}
        assert sorted(Counter(faulted.values()).items()) == [
            ("/api/2/attributes/increment/", sum(k for _, k in ROUNDS)),
            ("/api/2/attributes/update/", sum(k for k, _ in ROUNDS)),
        ]
        applied_unknown = [e for e in state.ledger() if e["request_id"] in faulted]
        assert any(e["op"] == "update" and e["after"] for e in applied_unknown)
        assert any(e["op"] == "increment" for e in applied_unknown)
        # and the same totals were then sent again (an update that changed nothing)
        assert any(e["op"] == "update" and e["before"] == e["after"] for e in state.ledger())
        report(
            "2 unknown outcome",
            f"apply_then_fail 502 x{len(faulted)} on update/ and increment/",
            fb.published,
            state,
            fb.truth,
        )
    finally:
        fb.close()
