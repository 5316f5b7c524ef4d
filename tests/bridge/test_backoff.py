"""The bridge's retry delays (mqtt_bridge/backoff.py): doubled after each failure up to a cap,
back to the first after a success."""

from __future__ import annotations

from mqtt_bridge import backoff
from mqtt_bridge.backoff import Backoff


def test_each_failure_doubles_the_wait_up_to_the_cap():
    retry = Backoff(2.0, 10.0)
    assert [retry.next() for _ in range(5)] == [2.0, 4.0, 8.0, 10.0, 10.0]


def test_a_success_starts_over():
    retry = Backoff(0.5, 30.0)
    retry.next(), retry.next()
    retry.reset()
    assert retry.next() == 0.5


def test_a_first_wait_beyond_the_cap_is_capped():
    assert Backoff(1200.0, 900.0).next() == 900.0  # (an outage's wait never exceeds 15 min)


def test_the_bridges_loops_keep_their_delays():
    waits = {
        "profile": backoff.profile(),
        "set-up": backoff.attribute_set_up(),
        "writes": backoff.state_writes(),
        "outage": backoff.exist_outage(60.0),
    }
    seen = {name: [retry.next() for _ in range(12)] for name, retry in waits.items()}
    assert {name: (w[0], w[-1]) for name, w in seen.items()} == {
        "profile": (2.0, 300.0),
        "set-up": (5.0, 600.0),
        "writes": (0.5, 30.0),
        "outage": (60.0, 900.0),
    }
