"""What a reload does when ``exist.accounts`` changes: each change named as needing a restart, the
running accounts kept, the new mappings applied (those of an account not yet running wait in the
outbox under it; end to end: test_household_reload_e2e.py)."""

from __future__ import annotations

import yaml

from mqtt_bridge.config import parse_config
from mqtt_bridge.config.changes import live_config, restart_needed
from mqtt_bridge.config.model import SINGLE_ACCOUNT
from mqtt_bridge.diagnose.reload_command import reload_lines

ATTRIBUTES = [{"template": "coffees"}, {"template": "steps"}]
ALICE = {"name": "alice", "token": "alice-token"}
BOB = {"name": "bob", "token": "bob-token"}
CAROL = {"name": "carol", "token": "carol-token"}


def household(accounts: list[dict], mappings: list[dict], comment: str = "") -> object:
    text = yaml.safe_dump(
        {
            "exist": {"timezone": "UTC", "accounts": accounts},
            "bridge": {"state_dir": "state"},
            "attributes": ATTRIBUTES,
            "mappings": mappings,
        },
        sort_keys=False,
    )
    return parse_config(comment + text)


def mapping(topic: str, account: str | None = None) -> dict:
    return {"topic": topic, "attribute": "coffees", **({"account": account} if account else {})}


def test_an_account_added_needs_a_restart_and_its_mappings_apply_at_once():
    running = household([ALICE, BOB], [mapping("a"), mapping("b", "bob")])
    new = household([ALICE, BOB, CAROL], [mapping("a"), mapping("b", "bob"), mapping("c", "carol")])
    assert restart_needed(running, new) == ["exist.accounts (carol added)"]
    live = live_config(running, new)
    assert [a.name for a in live.accounts] == ["alice", "bob"]  # until the restart
    assert [(m.topic, m.account) for m in live.mappings] == [
        ("a", "alice"),
        ("b", "bob"),
        ("c", "carol"),  # counted under carol, kept in the outbox until carol runs
    ]


def test_an_account_removed_or_changed_is_named_with_what_changed():
    running = household([ALICE, BOB], [mapping("a")])
    gone = household([ALICE], [mapping("a")])
    assert restart_needed(running, gone) == ["exist.accounts (bob removed)"]
    assert [a.name for a in live_config(running, gone).accounts] == ["alice", "bob"]
    changed = household([ALICE, {**BOB, "token": "new", "requests_per_hour": 10}], [mapping("a")])
    assert restart_needed(running, changed) == ["exist.accounts (bob: token, requests_per_hour)"]
    assert "new" not in str(restart_needed(running, changed))  # the token itself never shown
    first = household([BOB, ALICE], [mapping("a", "alice")])
    assert restart_needed(running, first) == [
        "exist.accounts (another first account: the default)",
        "read.account",  # the default's: the first account's
    ]
    lines = reload_lines(
        {"at": 0, "result": "applied", "restart_needed": restart_needed(running, changed)}
    )
    assert lines[-1] == (
        "  needs a restart (old value kept until then): exist.accounts (bob: token, "
        "requests_per_hour)"
    )
    waiting = reload_lines({"at": 0, "result": "applied", "waiting_accounts": ["carol"]})
    assert waiting[1] == (
        "  account(s) carol start with the next restart: their mappings' totals wait in the "
        "outbox until then"
    )


def test_accounts_only_moved_in_the_file_are_no_change():
    running = household([ALICE, BOB], [mapping("a")])
    moved = household([ALICE, BOB], [mapping("a")], comment="# the household\n\n\n")
    assert running.accounts[1].line != moved.accounts[1].line
    assert restart_needed(running, moved) == []


def test_a_single_account_bridge_reloaded_into_a_household_keeps_writing_as_itself():
    running = parse_config(
        yaml.safe_dump(
            {
                "exist": {"token": "alice-token", "timezone": "UTC"},
                "bridge": {"state_dir": "state"},
                "attributes": ATTRIBUTES,
                "mappings": [mapping("a"), {**mapping("m"), "mode": "counter"}],
            }
        )
    )
    new = household(
        [ALICE, BOB], [mapping("a"), {**mapping("m"), "mode": "counter"}, mapping("b", "bob")]
    )
    assert restart_needed(running, new) == [
        "exist.token",
        "exist.accounts (alice added)",
        "exist.accounts (bob added)",
        "read.account",
    ]
    live = live_config(running, new)
    # alice's mappings are the running single account's until the restart hands it all to
    # alice (so the meter's state id, and its last reading, stay as they were); bob's wait
    assert [m.account for m in live.mappings] == [SINGLE_ACCOUNT, SINGLE_ACCOUNT, "bob"]
    assert [a.name for a in live.accounts] == [SINGLE_ACCOUNT]


def test_another_first_account_leaves_the_default_mappings_with_the_running_first_till_restart():
    """bob moved above alice: the default account changes at the restart, with the accounts; until
    then a mapping without account still writes to alice, a mapping naming bob to bob."""
    running = household([ALICE, BOB], [mapping("a"), mapping("b", "bob")])
    new = household([BOB, ALICE], [mapping("a"), mapping("b", "bob"), mapping("c", "alice")])
    assert "exist.accounts (another first account: the default)" in restart_needed(running, new)
    applied = live_config(running, new)
    assert [m.account for m in applied.mappings] == ["alice", "bob", "alice"]
    assert [a.name for a in applied.accounts] == ["alice", "bob"]  # the running accounts
