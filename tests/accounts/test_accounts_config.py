"""``exist.accounts`` and ``mappings[].account``: several Exist accounts in one configuration."""

from __future__ import annotations

import pytest

from mqtt_bridge.config import ConfigError, parse_config
from mqtt_bridge.config.model import SINGLE_ACCOUNT

HOUSEHOLD = """\
exist:
  timezone: Europe/London
  requests_per_hour: 200
  accounts:
    - name: alice
      token: alice-token
    - name: bob
      token: bob-token
      timezone: Europe/Paris
      requests_per_hour: 100
attributes:
  - template: steps
  - name: fridge_opens
    label: Fridge opens
    group: food
    value_type: 0
  - template: weight
mappings:
  - topic: home/alice/steps
    attribute: steps
    mode: update
  - topic: home/bob/steps
    attribute: steps
    account: bob
  - topic: home/fridge
    attribute: fridge_opens
    account: bob
  - topic: home/fridge
    attribute: fridge_opens
"""


def problems(text: str) -> str:
    with pytest.raises(ConfigError) as err:
        parse_config(text)
    return str(err.value)


def test_accounts_inherit_the_sections_defaults_and_mappings_default_to_the_first():
    config = parse_config(HOUSEHOLD)
    alice, bob = config.accounts
    assert (alice.name, alice.token.reveal(), alice.timezone, alice.requests_per_hour) == (
        "alice",
        "alice-token",
        "Europe/London",
        200,
    )
    assert (bob.name, bob.timezone, bob.requests_per_hour) == ("bob", "Europe/Paris", 100)
    assert [m.account for m in config.mappings] == ["alice", "bob", "bob", "alice"]
    assert config.read.account == "alice"
    # an update for alice and increments for bob on the same attribute: two attributes
    assert [m.mode for m in config.mappings[:2]] == ["update", "increment"]


def test_each_account_acquires_the_attributes_its_mappings_write():
    config = parse_config(HOUSEHOLD)
    assert [a.name for a in config.attributes_of("alice")] == ["steps", "fridge_opens", "weight"]
    assert [a.name for a in config.attributes_of("bob")] == ["steps", "fridge_opens"]


def test_the_single_account_form_is_unchanged():
    config = parse_config(
        "exist: {token: t, timezone: UTC}\nmappings:\n  - {topic: a, attribute: steps}\n"
    )
    (only,) = config.accounts
    assert only.name == SINGLE_ACCOUNT and only.label == "default"
    assert only.token.reveal() == "t" and only.timezone == "UTC"
    assert config.mappings[0].account == SINGLE_ACCOUNT


def test_mistakes_are_named_with_key_and_line():
    text = """\
exist:
  token: x
  accounts:
    - name: alice
    - name: alice
      token: y
    - name: Bob Smith
      token: z
mappings:
  - topic: a/b
    attribute: steps
    account: alcie
read:
  attributes: [steps]
  account: carol
"""
    said = problems(text)
    assert "<string>:2: exist.token: with exist.accounts each account has its own token" in said
    assert "<string>:4: exist.accounts[0].token: required: token" in said
    assert (
        "<string>:5: exist.accounts[1].name: account 'alice' is already exist.accounts[0]" in said
    )
    assert "<string>:7: exist.accounts[2].name: expected an account name" in said
    assert (
        "<string>:12: mappings[0].account: no account 'alcie' in exist.accounts (did you "
        "mean 'alice'?)" in said
    )
    assert "<string>:15: read.account: no account 'carol' in exist.accounts (known: alice)" in said


@pytest.mark.parametrize(
    "accounts",
    ["\n    alice: {token: a}\n    bob: {token: b}", " alice", ""],
    ids=["a mapping", "a name", "nothing"],
)
def test_accounts_that_are_not_a_list_are_one_problem_naming_the_key(accounts):
    """Not also "exist.token required" or "there is no exist.accounts" for the mapping's
    account: the accounts are there, in the wrong shape."""
    said = problems(
        f"exist:\n  accounts:{accounts}\nmappings:\n  - topic: a\n    attribute: steps\n"
        "    account: bob\n"
    )
    lines = [x for x in said.splitlines() if x.startswith("<string>:")]
    assert lines == [
        "<string>:2: exist.accounts: expected a list of accounts (lines starting with '- ')"
    ], said


def test_an_account_without_exist_accounts_is_refused():
    said = problems(
        "exist: {token: x}\nmappings:\n  - topic: a\n    attribute: steps\n    account: bob\n"
    )
    assert "mappings[0].account: account 'bob' is named, but there is no exist.accounts" in said


def test_update_and_increment_may_share_an_attribute_only_across_accounts():
    text = HOUSEHOLD.replace("    account: bob\n  - topic: home/fridge", "  - topic: home/fridge")
    said = problems(text)
    assert "attribute 'steps' is fed in update mode by mappings[0] and in increment mode" in said


def test_each_accounts_token_file_is_opened_by_check(tmp_path):
    text = HOUSEHOLD.replace("      token: bob-token\n", "      token_file: bob.json\n")
    with pytest.raises(ConfigError) as err:
        parse_config(text, base_dir=tmp_path, check_files=True)
    assert "exist.accounts[1].token_file: no file" in str(err.value)


def test_an_account_moved_down_the_file_is_the_same_account_for_a_reload():
    """A line added above ``exist`` (a comment; in the add-on, any longer mappings file, as its
    generated part follows the file) doesn't make a reload call the accounts changed."""
    from mqtt_bridge.config.changes import restart_needed

    running = parse_config(HOUSEHOLD, "household.yaml")
    moved = parse_config("# the household\n" + HOUSEHOLD, "household.yaml")
    assert moved.accounts[1].line == running.accounts[1].line + 1
    assert restart_needed(running, moved) == []
    other = parse_config(HOUSEHOLD.replace("bob-token", "bobs-new-token"), "household.yaml")
    assert restart_needed(running, other) == ["exist.accounts (bob: token)"]


def test_the_docs_household_example_is_a_valid_configuration():
    """docs/how-it-works/accounts.md's first YAML block, as a user copies it."""
    from pathlib import Path

    page = Path(__file__).resolve().parents[2] / "docs" / "how-it-works" / "accounts.md"
    text = page.read_text(encoding="utf-8").split("```yaml\n", 1)[1].split("```", 1)[0]
    config = parse_config(text, require_secrets=False)
    assert [a.name for a in config.accounts] == ["alice", "bob"]
    assert config.account("bob").requests_per_hour == 150
    assert [m.account for m in config.mappings] == ["alice", "bob", "alice", "bob"]
    assert [a.name for a in config.attributes_of("bob")] == ["steps", "fridge_opens"]


def test_two_accounts_with_one_token_are_refused():
    said = problems(HOUSEHOLD.replace("bob-token", "alice-token"))
    assert "exist.accounts[1].token: the same token as exist.accounts[0]" in said


@pytest.mark.parametrize(
    "bobs",
    ["./tokens/alice.json", "tokens/../tokens/alice.json", "{base}/tokens/alice.json", "link.json"],
    ids=["./", "..", "absolute", "a link"],
)
def test_two_accounts_with_one_token_file_however_spelt_are_refused(tmp_path, bobs):
    """Both would refresh and spend one token, and bob's totals would land in alice's account."""
    (tmp_path / "tokens").mkdir()
    (tmp_path / "link.json").symlink_to(tmp_path / "tokens" / "alice.json")
    text = (
        HOUSEHOLD.replace("token: alice-token", "token_file: tokens/alice.json")
        .replace("token: bob-token", f"token_file: {bobs.format(base=tmp_path)}")
        .replace("exist:\n", "exist:\n  client_id: c\n  client_secret: s\n")
    )
    with pytest.raises(ConfigError) as err:
        parse_config(text, base_dir=tmp_path)
    assert "exist.accounts[1].token_file: the same token_file as exist.accounts[0]" in str(
        err.value
    )


def test_an_unknown_account_among_no_valid_names_says_so():
    said = problems(
        "exist:\n  accounts:\n    - {name: Alice, token: a}\n"
        "mappings:\n  - {topic: t, attribute: steps, account: bob}\n"
    )
    assert "mappings[0].account: no account 'bob' in exist.accounts (none of its names is " in said
