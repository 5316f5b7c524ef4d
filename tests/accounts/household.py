"""A household for the accounts tests: two people (alice: the mock's default user; bob: a second
user of the mock, with his own token), one broker, one bridge."""

from __future__ import annotations

from pathlib import Path

from ..support.config import bridge_config
from ..support.days import today
from ..support.mqtt import Publisher
from ..support.waiting import wait_until

ATTRIBUTES = [
    {"template": "steps"},
    {"name": "fridge_opens", "label": "Fridge opens", "group": "food", "value_type": 0},
    {"template": "coffees"},
]
# The fridge door and the hall meter are the household's: each message counts for both. Steps
# and coffees are each person's own.
MAPPINGS = [
    {
        "topic": "zigbee2mqtt/fridge",
        "attribute": "fridge_opens",
        "json_path": "contact",
        "edge": {"from": True, "to": False},
    },
    {
        "topic": "zigbee2mqtt/fridge",
        "attribute": "fridge_opens",
        "json_path": "contact",
        "edge": {"from": True, "to": False},
        "account": "bob",
    },
    {"topic": "home/alice/steps", "attribute": "steps", "mode": "update"},
    {"topic": "home/bob/steps", "attribute": "steps", "mode": "update", "account": "bob"},
    {"topic": "button/alice", "attribute": "coffees"},
    {"topic": "button/bob", "attribute": "coffees", "account": "bob"},
    # the same meter counted for both: their per-topic states must be two, or the second
    # mapping would see the first's reading and count nothing
    {"topic": "meter/kitchen", "attribute": "coffees", "mode": "counter", "json_path": "cups"},
    {
        "topic": "meter/kitchen",
        "attribute": "coffees",
        "mode": "counter",
        "json_path": "cups",
        "account": "bob",
    },
]


def add_bob(mock, name: str = "bob") -> str:
    """Bob (or ``name``) as another user of ``mock``; his token."""
    mock.state.add_user(name, timezone="UTC")
    return mock.state.issue_token(username=name)["access_token"]


def household_config(
    mock,
    port: int,
    state_dir: str | Path,
    bob_token: str,
    *,
    alice_rph: int = 120,
    bob_rph: int = 60,
    delay: float = 3600,
    client_id: str = "household",
    mappings: list[dict] | None = None,
    attributes: list[dict] | None = None,
    more_accounts: list[dict] | None = None,
) -> str:
    """The household's configuration: accounts alice (first: the default) and bob."""
    return bridge_config(
        url=mock.url,
        token=None,
        port=port,
        state_dir=state_dir,
        client_id=client_id,
        delay=delay,
        exist={
            "accounts": [
                {"name": "alice", "token": mock.token, "requests_per_hour": alice_rph},
                {"name": "bob", "token": bob_token, "requests_per_hour": bob_rph},
                *(more_accounts or []),
            ]
        },
        attributes=ATTRIBUTES if attributes is None else attributes,
        mappings=MAPPINGS if mappings is None else mappings,
    )


def requests_of(mock, username: str) -> list[dict]:
    """The requests ``username``'s token made, from the mock's journal."""
    return [j for j in mock.state.journal("/api/2/") if j["username"] == username]


def me(mock) -> str:
    """Alice: the mock's default user (its ``token`` is hers)."""
    return mock.state.config.username


def committed(bridge, n: int) -> None:
    wait_until(lambda: bridge.outbox.counters().get("messages", 0) >= n)


def flush_all(bridge) -> None:
    for account in bridge.accounts.values():
        account.flusher.flush_once()


def stop_without_flushing(bridge) -> None:
    """Stop ``bridge`` as a kill would, but cleanly enough to start another in its state
    directory: what it took in is committed and stays pending (no last flush)."""
    bridge.stopping.set()
    bridge.link.stop()
    bridge.writer.stop(timeout=5)
    bridge.outbox.close()
    bridge._lock.close()


def publish_day(pub: Publisher) -> dict:
    """A household's day; what each account must end with."""
    fridge = [{"contact": c} for c in (True, False) * 7]  # 7 openings
    for payload in fridge:
        pub.publish("zigbee2mqtt/fridge", payload)
    for steps in (1200, 5400, 8031):
        pub.publish("home/alice/steps", str(steps))
    for steps in (300, 2999):
        pub.publish("home/bob/steps", str(steps))
    for _ in range(3):
        pub.publish("button/alice", "press")
    for _ in range(5):
        pub.publish("button/bob", "press")
    for cups in (100, 102, 106):  # the first reading is a baseline: 6 cups for each
        pub.publish("meter/kitchen", {"cups": cups})
    return {
        "alice": {"fridge_opens": 7, "steps": 8031, "coffees": 3 + 6},
        "bob": {"fridge_opens": 7, "steps": 2999, "coffees": 5 + 6},
        "messages": len(fridge) + 3 + 2 + 3 + 5 + 3,
    }


def landed(mock, username: str) -> dict:
    day = today("UTC")
    return {
        name: mock.state.value(name, day, username=username)
        for name in ("fridge_opens", "steps", "coffees")
    }
