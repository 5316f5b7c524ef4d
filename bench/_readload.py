"""The read load of ``bench.api_calls --read-interval``: the bridge's Exist mirror (``read:``)
refreshing 20 attributes (the day's 12 written ones and 8 other services write) with averages
and insights, on the simulated clock, inside the same client and budget as the writes.

The mirror is the bridge's own ``Refresher`` (its decisions: a write due or a tight budget
postpones a read); only its loop is the script's, which steps it at its turns in simulated time
between the flusher's wake-ups, as ``SimDay`` does for the flushes.
"""

from __future__ import annotations

from collections import Counter

from mqtt_bridge.config.model import ReadSettings
from mqtt_bridge.pipeline.buffer.outbox import Outbox
from mqtt_bridge.pipeline.mirror.refresher import Refresher
from mqtt_bridge.state_dir import OUTBOX_FILE

# written by other services (the phone, a sleep tracker, the mood check-in): read, never written
OTHERS = [
    ("mood", 8),
    ("sleep", 3),
    ("sleep_start", 6),
    ("sleep_end", 4),
    ("productive_min", 3),
    ("distracting_min", 3),
    ("floors", 0),
    ("tracks", 0),
]
READ_PATHS = ("/api/2/attributes/with-values/", "/api/2/averages/", "/api/2/insights/")


def seed_others(state, day: str) -> list[str]:
    """The attributes other services write, with today's value, in the mock; their names."""
    for name, _ in OTHERS:
        state.seed_attribute(None, template=name, owner="another_service", values={day: 1})
        state.seed_average(name, 1)
    state.seed_insight("Your mood is usually better on days with more steps.")
    return [name for name, _ in OTHERS]


def attach_mirror(bridge, names: list[str], interval: float, clock) -> Refresher:
    """The bridge's mirror of ``names`` every ``interval`` simulated seconds, stepped by the
    script (``Refresher.step``); the flusher's confirmed totals reach it as in a real run."""
    settings = ReadSettings(
        enabled=True, attributes=tuple(names), interval=interval, averages=True, insights=True
    )
    box = Outbox(bridge.state_dir / OUTBOX_FILE)  # the mirror's own connection
    flusher = bridge.flusher
    mirror = Refresher(
        settings,
        bridge.exist.client,
        bridge.link.publish_retained,
        "UTC",
        write_due=lambda: flusher.next_due(box),
        clock=clock,
    )
    bridge.mirror = mirror
    return mirror


def read_summary(journal: list[dict], mirror: Refresher, postponed: Counter) -> str:
    """The read side's numbers: requests by endpoint, refreshes, and the postponements."""
    reads = Counter(j["path"] for j in journal if j["path"] in READ_PATHS)
    why = ", ".join(f"{n} x {reason}" for reason, n in postponed.most_common()) or "none"
    return (
        f"reads: {sum(reads.values())} requests ("
        + ", ".join(f"{p.split('/api/2/')[1]} {n}" for p, n in sorted(reads.items()))
        + f") for {mirror.refreshes} refreshes of {len(mirror.known)} attributes; "
        f"refreshes postponed: {why}"
    )
