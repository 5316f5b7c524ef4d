"""A household for the accounts tests: two people (alice: the mock's default user; bob: a second
user of the mock, with his own token), one broker, one bridge."""

from __future__ import annotations

from pathlib import Path

from ..support.config import bridge_config

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
