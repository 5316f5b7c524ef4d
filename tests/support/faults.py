"""Shared pieces of the fault suite: a bridge in-process against a real mosquitto and the mock,
a ground truth of what was published, and the comparison with what landed in the mock.

Every fault test publishes events whose effect it knows (the ground truth), injects its fault,
and then compares Exist's stored values with the truth *exactly*; the ledger is checked too, so a
total that was transiently too high (a double count later overwritten) is caught as well.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime

from mqtt_bridge.config import parse_config
from mqtt_bridge.service import Bridge

from .config import bridge_config
from .mqtt import Publisher, wait_subscribed
from .waiting import wait_until

__all__ = [
    "ATTRIBUTES",
    "TOPICS",
    "FaultBridge",
    "Publisher",
    "config_text",
    "duplicates",
    "fast_retries",
    "landed",
    "landed_by_date",
    "report",
    "requests_in_any_hour",
    "assert_never_double_counted",
    "wait_until",
]

log = logging.getLogger("tests.faults")

# topic -> attribute; one templated attribute and two custom ones (one in a non-custom group)
TOPICS = {
    "button/coffee": "coffees",
    "zigbee2mqtt/fridge": "fridge_opens",
    "zigbee2mqtt/door": "door_opens",
}
ATTRIBUTES = sorted(set(TOPICS.values()))

FAULT_ATTRIBUTES = [
    {"template": "coffees"},
    {"name": "fridge_opens", "label": "Fridge opens", "group": "food", "value_type": 0},
    {"name": "door_opens", "label": "Door opens", "group": "custom", "value_type": 0},
]
FAULT_MAPPINGS = [{"topic": topic, "attribute": attr} for topic, attr in TOPICS.items()]


def config_text(
    mock,
    port: int,
    state_dir,
    *,
    tz: str = "UTC",
    interval: float = 1,
    rph: int = 280,
    credentials: dict | None = None,
    base_url: str | None = None,
) -> str:
    """The fault suite's bridge config: three attributes, one topic each. ``credentials``
    replaces ``token: <the mock's token>`` (e.g. a token file and OAuth client)."""
    creds = credentials if credentials is not None else {"token": mock.token}
    return bridge_config(
        url=base_url or mock.url,
        token=creds.get("token"),
        port=port,
        state_dir=state_dir,
        client_id="bridge-faults",
        timezone=tz,
        flush_interval=interval,
        requests_per_hour=rph,
        exist={k: v for k, v in creds.items() if k != "token"},
        attributes=FAULT_ATTRIBUTES,
        mappings=FAULT_MAPPINGS,
    )


def fast_retries(bridge: Bridge, cap: float = 0.05) -> list[float]:
    """Make the client's retry sleeps (backoff, short Retry-After) take at most ``cap`` seconds
    of real time, so a test sees many retries in little time. The retry *decisions* (what is
    retried, how often, the budget) are unchanged; the asked-for waits are recorded."""
    asked: list[float] = []

    def sleep(seconds: float) -> None:
        asked.append(seconds)
        time.sleep(min(seconds, cap))

    bridge.exist.client.sleep = sleep
    return asked


class FaultBridge:
    """One bridge in-process (``Bridge``), bootstrapped and subscribed, plus a publisher that
    keeps the ground truth of the events it published."""

    def __init__(
        self,
        mock,
        broker,
        state_dir,
        *,
        text: str | None = None,
        clock: Callable[[], float] = time.time,
        bootstrap: bool = True,
        before_start: Callable[[Bridge], None] | None = None,
        **config,
    ):
        self.mock = mock
        self.broker = broker
        self.state_dir = state_dir
        self.text = text or config_text(mock, broker.port, state_dir, **config)
        self.config = parse_config(self.text)
        self.clock = clock
        self.truth: Counter[str] = Counter()
        self.published = 0
        self.bridge = self._start(bootstrap, before_start)
        self.pub = Publisher(broker.port)

    def _start(self, bootstrap: bool, before_start) -> Bridge:
        bridge = Bridge(self.config, clock=self.clock)
        if before_start is not None:
            before_start(bridge)
        bridge.start()
        if bootstrap:
            bridge.exist.bootstrap()
            bridge.refresh_mappings()
        wait_subscribed(bridge.link, timeout=30)
        return bridge

    def restart(self, before_start=None) -> None:
        self.bridge.stop()
        self.bridge = self._start(True, before_start)

    # ----------------------------------------------------------------- the ground truth

    def event(self, topic: str, payload: str | bytes | None = None) -> None:
        """Publish one counted event on ``topic`` (QoS 1, confirmed by the broker)."""
        self.pub.publish(topic, payload if payload is not None else f'{{"n": {self.published}}}')
        self.truth[TOPICS[topic]] += 1
        self.published += 1

    def events(self, rng, n: int, pause_every: int = 0, pause: float = 0.0) -> None:
        for i in range(n):
            self.event(rng.choice(sorted(TOPICS)))
            if pause_every and i % pause_every == pause_every - 1:
                time.sleep(pause)

    def counters(self) -> dict[str, int]:
        return self.bridge.outbox.counters()

    def settle(self, timeout: float = 30) -> None:
        """Wait until every published message is committed to the outbox."""
        try:
            wait_until(
                lambda: self.counters().get("messages", 0) >= self.published, timeout=timeout
            )
        except AssertionError:
            raise AssertionError(
                f"not committed: {self.published} published, counters {self.counters()}"
            ) from None

    def delivered(self) -> bool:
        """Everything published is in Exist and the outbox owes nothing."""
        return (
            landed(self.mock.state) == dict(self.truth)
            and self.bridge.outbox.status()["pending_rows"] == 0
        )

    def wait_delivered(self, timeout: float = 60) -> None:
        try:
            wait_until(self.delivered, timeout=timeout)
        except AssertionError:
            raise AssertionError(
                f"not delivered: truth {dict(self.truth)}, landed {landed(self.mock.state)}, "
                f"outbox {self.bridge.outbox.status()}"
            ) from None

    def close(self) -> None:
        try:
            self.pub.close()
        finally:
            self.bridge.stop()


def requests_in_any_hour(journal: list[dict]) -> int:
    """The most requests the mock received in any sliding hour of its own clock."""
    times = sorted(datetime.fromisoformat(j["time"]).timestamp() for j in journal)
    best = 0
    for i, start in enumerate(times):
        best = max(best, sum(1 for t in times[i:] if t < start + 3600))
    return best


def landed(state, attributes=ATTRIBUTES) -> dict[str, int]:
    """What Exist holds per attribute, summed over every date (only non-zero totals listed)."""
    out: Counter[str] = Counter()
    for name in attributes:
        for value in state.values(name).values():
            out[name] += value or 0
    return {k: v for k, v in out.items() if v}


def landed_by_date(state, attribute: str) -> dict[str, object]:
    return {d: v for d, v in state.values(attribute).items() if v is not None}


def assert_never_double_counted(state, truth: Counter) -> None:
    """The bridge's contract with Exist, checked on every applied change: it never sends a real
    increment (only 0, to learn a day's starting value) and no total it wrote ever exceeded the
    number of events published for that attribute (which any double count would)."""
    ledger = state.ledger()
    assert {e["value"] for e in ledger if e["op"] == "increment"} <= {0}, "a real increment"
    for entry in ledger:
        if entry["op"] == "update":
            assert entry["after"] <= truth[entry["attribute"]], entry


def report(scenario: str, injected: str, sent: int, state, truth: Counter) -> None:
    """One row of the fault table (printed; run with ``-s`` to collect them)."""
    print(
        f"\nFAULT-TABLE | {scenario} | {injected} | {sent} | {sum(landed(state).values())} | "
        f"{duplicates(state, truth)}"
    )


def duplicates(state, truth: Counter) -> int:
    """Events counted more than once (0 when the contract holds)."""
    got = landed(state)
    return sum(max(0, got.get(k, 0) - v) for k, v in truth.items())
