"""Issue 27, item 1 in the add-on: its options accept several Exist accounts. ``exist_token``
stays the first account's (existing installs change nothing); ``accounts`` lists the household's
other members, each a name and a token; ``exist_account`` names exist_token's account. Every
mistake is one line naming the option and the item, the tokens reach the bridge's configuration
only through ``!env``, and a problem the bridge finds in what the options generated is traced
back to the option (``exist.accounts[1]`` is ``accounts[0]``: exist_token's account is first)."""

from __future__ import annotations

import io
import json
import signal

import pytest

from mqtt_bridge.addon import glue
from mqtt_bridge.addon.glue import AddonError, AddonPaths, build_config
from mqtt_bridge.addon.options import (
    DEFAULT_ACCOUNT,
    AccountOption,
    SettingsError,
    check_options,
)
from mqtt_bridge.cli import run
from mqtt_bridge.config import ConfigError
from mqtt_bridge.diagnose.reload_command import last_reload

from ..support.addon import MQTT_PASSWORD, MQTT_USER, Addon, healthz_until
from ..support.days import today
from ..support.mqtt import Publisher
from ..support.waiting import wait_until

OWN, ALEX, KIM = "own-t0ken", "alex-t0ken", "kim-t0ken"
OPTIONS = {"exist_token": OWN, "log_level": "info", "mqtt_host": "broker.lan"}
TAB = "; change it in the add-on's Configuration tab"


def problems(options: dict) -> list[str]:
    """The lines ``check_options`` refuses ``options`` with."""
    with pytest.raises(SettingsError) as err:
        check_options(options)
    return err.value.options


# ---------------------------------------------------------------- the options, checked


@pytest.mark.parametrize("listed", [None, []], ids=["no accounts option", "accounts: []"])
def test_without_other_accounts_the_token_is_the_only_account_and_has_no_name(listed):
    options = {**OPTIONS, "exist_token": f"  {OWN}\n", "exist_account": "Not A Name"}
    if listed is not None:
        options["accounts"] = listed
    assert check_options(options) == [AccountOption(None, OWN)]


def test_other_accounts_follow_exist_tokens_account_named_me_by_default():
    accounts = check_options(
        {
            **OPTIONS,
            "accounts": [
                {"name": "alex", "token": f" {ALEX} ", "timezone": "Europe/Paris"},
                {"name": "kim", "token": KIM, "requests_per_hour": 100, "timezone": ""},
            ],
        }
    )
    assert accounts == [
        AccountOption(DEFAULT_ACCOUNT, OWN),
        AccountOption("alex", ALEX, "accounts[0]", timezone="Europe/Paris"),
        AccountOption("kim", KIM, "accounts[1]", requests_per_hour=100),
    ]
    assert DEFAULT_ACCOUNT == "me"
    assert [a.token for a in accounts] == [OWN, ALEX, KIM]  # stripped
    assert ALEX not in repr(accounts)


def test_exist_account_names_the_tokens_account():
    options = {**OPTIONS, "exist_account": "sam", "accounts": [{"name": "me", "token": ALEX}]}
    assert [a.name for a in check_options(options)] == ["sam", "me"]


@pytest.mark.parametrize(
    ("accounts", "expected"),
    [
        ([{"name": "alex"}], "`accounts[0].token`: empty: paste alex's Exist token"),
        ([{"name": "alex", "token": "  "}], "`accounts[0].token`: empty: paste alex's"),
        ([{"token": ALEX}], "`accounts[0].name`: empty: name the account (e.g. alex)"),
        ([{"name": " ", "token": ALEX}], "`accounts[0].name`: empty: name the account"),
        (
            [{"name": "Alex", "token": ALEX}],
            "`accounts[0].name`: 'Alex' is not an account name: lower-case letters, digits, "
            "'-' and '_', starting with a letter or digit, at most 32",
        ),
        ([{"name": "a" * 33, "token": ALEX}], "`accounts[0].name`: 'aaaa"),
        ([{"name": "-alex", "token": ALEX}], "`accounts[0].name`: '-alex' is not an account"),
        ([{"name": 7, "token": ALEX}], "`accounts[0].name`: expected text, got 7"),
        ([{"name": "alex", "token": 123}], "`accounts[0].token`: expected text, got 123"),
        (
            [{"name": "me", "token": ALEX}],
            "`accounts[0].name`: 'me' is already the name of your own account (option "
            "`exist_account`, default 'me')",
        ),
        (
            [{"name": "alex", "token": ALEX}, {"name": "alex", "token": KIM}],
            "`accounts[1].name`: 'alex' is already the name of `accounts[0]`",
        ),
        (
            [{"name": "alex", "token": OWN}],
            "`accounts[0].token`: the same token as `exist_token`: each account has its own "
            "(paste alex's Exist token)",
        ),
        (
            [{"name": "alex", "token": ALEX}, {"name": "kim", "token": f" {ALEX}"}],
            "`accounts[1].token`: the same token as `accounts[0].token`: each account has its",
        ),
        (
            [{"name": "alex", "token": ALEX, "requests_per_hour": 301}],
            "`accounts[0].requests_per_hour`: expected a whole number from 1 to 300, got 301",
        ),
        (
            [{"name": "alex", "token": ALEX, "requests_per_hour": "many"}],
            "`accounts[0].requests_per_hour`: expected a whole number from 1 to 300",
        ),
        (
            [{"name": "alex", "token": ALEX, "timezone": 1}],
            "`accounts[0].timezone`: expected text, got 1",
        ),
        (
            [{"name": "alex", "tokn": ALEX}],
            "`accounts[0].tokn`: unknown key (an account has name, token, timezone, "
            "requests_per_hour)",
        ),
        ("alex", "`accounts`: expected a list of accounts (name, token), got 'alex'"),
        (["alex"], "`accounts[0]`: expected an account (name, token), got 'alex'"),
    ],
)
def test_each_mistake_in_accounts_is_one_line_naming_the_option_and_item(accounts, expected):
    found = problems({**OPTIONS, "accounts": accounts})
    assert any(line.startswith("add-on option " + expected) for line in found), found
    assert all(line.endswith(TAB) and "\n" not in line for line in found), found
    for token in (OWN, ALEX, KIM):
        assert all(token not in line for line in found)


def test_a_bad_exist_account_is_named_once_there_are_other_accounts():
    found = problems(
        {**OPTIONS, "exist_account": "Sam", "accounts": [{"name": "a", "token": ALEX}]}
    )
    assert found == [f"add-on option `exist_account`: 'Sam' is not an account name: "
                     f"lower-case letters, digits, '-' and '_', starting with a letter or digit, "
                     f"at most 32{TAB}"]  # fmt: skip


def test_a_name_taken_by_exist_account_is_named_with_the_option():
    options = {**OPTIONS, "exist_account": "sam", "accounts": [{"name": "sam", "token": ALEX}]}
    assert problems(options) == [
        "add-on option `accounts[0].name`: 'sam' is already the name of your own account "
        f"(option `exist_account`, default 'me'){TAB}"
    ]


def test_every_problem_of_every_item_is_reported_at_once_with_its_index():
    options = {
        **OPTIONS,
        "requests_per_hour": 0,
        "accounts": [
            {"name": "alex", "token": ALEX},
            {"name": "Kim", "token": ""},
            {"name": "alex", "token": KIM, "requests_per_hour": 0},
        ],
    }
    found = [line.split(":")[0] for line in problems(options)]
    assert found == [
        "add-on option `requests_per_hour`",
        "add-on option `accounts[1].name`",
        "add-on option `accounts[1].token`",
        "add-on option `accounts[2].requests_per_hour`",
        "add-on option `accounts[2].name`",
    ]


def test_an_empty_exist_token_is_still_the_one_line_it_was():
    options = {**OPTIONS, "exist_token": "", "accounts": [{"name": "alex", "token": ALEX}]}
    with pytest.raises(AddonError, match="^exist_token is empty: paste your Exist token"):
        check_options(options)


# ---------------------------------------------------------------- the command


def _write(tmp_path, options: dict, mappings: str) -> list[str]:
    (tmp_path / "config").mkdir(exist_ok=True)
    (tmp_path / "config" / glue.DEFAULT_MAPPINGS_FILE).write_text(mappings)
    (tmp_path / "options.json").write_text(json.dumps(options))
    return [
        "addon",
        "--options",
        str(tmp_path / "options.json"),
        "--config-dir",
        str(tmp_path / "config"),
        "--data-dir",
        str(tmp_path / "data"),
    ]


MAPPINGS = "mappings:\n  - topic: home/steps\n    attribute: steps\n    mode: update\n"


def test_the_command_reports_an_accounts_mistake_in_one_line(tmp_path):
    options = {**OPTIONS, "accounts": [{"name": "alex", "token": ALEX}, {"name": "kim"}]}
    err = io.StringIO()
    assert run(_write(tmp_path, options, MAPPINGS), io.StringIO(), err) == 1
    lines = err.getvalue().strip().splitlines()
    assert lines == [
        f"exist-bridge: error: add-on option `accounts[1].token`: empty: paste kim's Exist "
        f"token{TAB}"
    ]


# ---------------------------------------------------------------- the configuration made


def paths(tmp_path, mappings: str = MAPPINGS) -> AddonPaths:
    (tmp_path / "config").mkdir(exist_ok=True)
    (tmp_path / "config" / glue.DEFAULT_MAPPINGS_FILE).write_text(mappings)
    return AddonPaths(
        options=tmp_path / "options.json",
        data_dir=tmp_path / "data",
        config_dir=tmp_path / "config",
        supervisor_token=None,
    )


def generated(monkeypatch, options: dict, p: AddonPaths) -> tuple[str, dict]:
    """The text the add-on hands to the configuration reader, and the environment with it."""
    seen = {}
    real = glue.parse_config

    def spy(text, source, **kw):
        seen.update(text=text, env=kw["env"])
        return real(text, source, **kw)

    monkeypatch.setattr(glue, "parse_config", spy)
    build_config(options, p)
    return seen["text"], seen["env"]


def test_without_other_accounts_the_configuration_is_exactly_the_old_one(tmp_path, monkeypatch):
    p = paths(tmp_path)
    old_text, old_env = generated(monkeypatch, OPTIONS, p)
    new_text, new_env = generated(
        monkeypatch, {**OPTIONS, "accounts": [], "exist_account": "sam"}, p
    )
    assert new_text == old_text
    exist = new_text.split("# --- set by the add-on ---\n", 1)[1].split("\nmqtt:", 1)[0]
    assert exist == "exist:\n  token: !env 'EXIST_BRIDGE_ADDON_TOKEN'"
    assert new_env[glue.TOKEN_VAR] == OWN
    assert build_config({**OPTIONS, "accounts": []}, p).exist.token.reveal() == OWN


def test_other_accounts_make_exist_accounts_with_the_tokens_through_env(tmp_path, monkeypatch):
    options = {
        **OPTIONS,
        "timezone": "Europe/London",
        "requests_per_hour": 200,
        "exist_account": "sam",
        "accounts": [
            {"name": "alex", "token": ALEX, "timezone": "Europe/Paris"},
            {"name": "kim", "token": KIM, "requests_per_hour": 100},
        ],
    }
    text, env = generated(monkeypatch, options, paths(tmp_path))
    generated_part = text.split("# --- set by the add-on ---\n", 1)[1]
    assert generated_part.startswith(
        "exist:\n"
        "  accounts:\n"
        "  - name: sam\n"
        "    token: !env 'EXIST_BRIDGE_ADDON_TOKEN'\n"
        "  - name: alex\n"
        "    token: !env 'EXIST_BRIDGE_ADDON_ACCOUNTS_0_TOKEN'\n"
        "    timezone: Europe/Paris\n"
        "  - name: kim\n"
        "    token: !env 'EXIST_BRIDGE_ADDON_ACCOUNTS_1_TOKEN'\n"
        "    requests_per_hour: 100\n"
        "  timezone: Europe/London\n"
        "  requests_per_hour: 200\n"
    ), generated_part
    assert "token:" not in generated_part.split("\nmqtt:", 1)[0].replace(": !env", "")
    for token in (OWN, ALEX, KIM):
        assert token not in text
    assert env["EXIST_BRIDGE_ADDON_ACCOUNTS_0_TOKEN"] == ALEX
    assert env["EXIST_BRIDGE_ADDON_ACCOUNTS_1_TOKEN"] == KIM
    assert env[glue.TOKEN_VAR] == OWN


def test_the_bridge_gets_the_accounts_and_mappings_name_them(tmp_path):
    mappings = MAPPINGS + "  - topic: alex/steps\n    attribute: steps\n    account: alex\n"
    options = {
        **OPTIONS,
        "requests_per_hour": 200,
        "accounts": [{"name": "alex", "token": ALEX, "timezone": "Europe/Paris"}],
    }
    config = build_config(options, paths(tmp_path, mappings.replace("    mode: update\n", "")))
    assert [a.name for a in config.accounts] == ["me", "alex"]
    assert [a.token.reveal() for a in config.accounts] == [OWN, ALEX]
    assert [a.timezone for a in config.accounts] == [None, "Europe/Paris"]
    assert [a.requests_per_hour for a in config.accounts] == [200, 200]
    assert config.exist.token is None
    assert [m.account for m in config.mappings] == ["me", "alex"]
    assert config.read.account == "me"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            {"accounts": [{"name": "alex", "token": ALEX, "timezone": "Mars/Base"}]},
            "add-on option `accounts[0].timezone`: unknown time zone 'Mars/Base'",
        ),
        (
            {
                "accounts": [
                    {"name": "alex", "token": ALEX},
                    {"name": "kim", "token": KIM, "timezone": "Mars/Base"},
                ]
            },
            "add-on option `accounts[1].timezone`: unknown time zone 'Mars/Base'",
        ),
        (
            {"timezone": "Mars/Base", "accounts": [{"name": "alex", "token": ALEX}]},
            "add-on option `timezone`: unknown time zone 'Mars/Base'",
        ),
    ],
)
def test_a_problem_of_the_generated_accounts_names_the_option(tmp_path, options, expected):
    with pytest.raises(SettingsError) as err:
        build_config({**OPTIONS, **options}, paths(tmp_path))
    assert err.value.options[0].startswith(expected), err.value.options
    assert err.value.file is None


@pytest.mark.parametrize(
    ("accounts", "expected"),
    [
        (
            [],
            ":7: mappings[1].account: account 'alex' is named, but the add-on lists no other "
            "accounts: add theirs (name and token) to the option `accounts` in its "
            "Configuration tab, or leave account out",
        ),
        (
            [{"name": "kim", "token": KIM}],
            ":7: mappings[1].account: no account 'alex' among the add-on's accounts (options "
            "`exist_account`, `accounts`; known: me, kim)",
        ),
    ],
)
def test_a_mapping_naming_an_unknown_account_is_the_files_problem_in_addon_words(
    tmp_path, accounts, expected
):
    mappings = MAPPINGS + "  - topic: alex/steps\n    attribute: steps\n    account: alex\n"
    with pytest.raises(ConfigError) as err:
        build_config({**OPTIONS, "accounts": accounts}, paths(tmp_path, mappings))
    (line,) = [line for line in str(err.value).splitlines() if "account" in line]
    assert line.endswith(expected), line
    assert "exist.accounts" not in str(err.value)


def test_a_changed_account_option_is_named_as_needing_a_restart(tmp_path):
    from mqtt_bridge.config.changes import restart_needed

    p = paths(tmp_path)
    options = {**OPTIONS, "accounts": [{"name": "alex", "token": ALEX}]}
    running = build_config(options, p)
    (tmp_path / "config" / glue.DEFAULT_MAPPINGS_FILE).write_text(
        "# a comment: the generated part moves down a line\n" + MAPPINGS
    )
    assert restart_needed(running, build_config(options, p)) == []
    changed = {**options, "accounts": [{"name": "alex", "token": KIM}]}
    assert restart_needed(running, build_config(changed, p)) == [
        "the Exist accounts, add-on options `exist_token`, `exist_account` and `accounts` "
        "(alex: token)"
    ]
    single = build_config({**OPTIONS, "exist_token": "another"}, p)
    assert restart_needed(build_config(OPTIONS, p), single) == ["add-on option `exist_token`"]


# ---------------------------------------------------------------- the add-on as a process

HOUSEHOLD = """\
attributes:
  - name: fridge_opens
    label: Fridge opens
    group: food
    value_type: 0
  - template: steps
mappings:
  - topic: kitchen/fridge
    attribute: fridge_opens
  - topic: kitchen/fridge
    attribute: fridge_opens
    account: alex
  - topic: alex/phone/steps
    attribute: steps
    mode: update
    account: alex
"""


@pytest.mark.slow
def test_two_tokens_write_into_two_users_of_the_mock(tmp_path):
    """``exist-bridge addon`` as a process (the fake Supervisor, a mosquitto with users, the mock
    over HTTP) with exist_token and one more account: the fridge's message counts once in each
    account (a mapping each), alex's steps land in alex's account only; a reload adding a
    mapping to the first account keeps the accounts (nothing to restart for)."""
    addon = Addon(tmp_path)
    try:
        addon.mock.state.add_user("alex")
        alex_token = addon.mock.state.issue_token("alex")["access_token"]
        options_file = tmp_path / "data" / "options.json"
        options = json.loads(options_file.read_text())
        options["accounts"] = [{"name": "alex", "token": alex_token}]
        options_file.write_text(json.dumps(options))
        (tmp_path / "config").mkdir()
        (tmp_path / "config" / glue.DEFAULT_MAPPINGS_FILE).write_text(HOUSEHOLD)
        addon.start()
        healthz_until(addon, 200)
        pub = Publisher(addon.broker.port, login=(MQTT_USER, MQTT_PASSWORD))
        pub.publish("kitchen/fridge", "open")
        pub.publish("alex/phone/steps", "4321")
        pub.close()
        mock = addon.mock.state
        wait_until(
            lambda: (
                mock.value("fridge_opens", today()) == 1
                and mock.value("fridge_opens", today(), "alex") == 1
                and mock.value("steps", today(), "alex") == 4321
            ),
            timeout=30,
            message=lambda: addon.log_text()[-3000:],
        )
        assert mock.value("steps", today()) is None  # not in exist_token's account

        # a reload: the file grows (the generated accounts move down), the accounts stay
        mine = "  - topic: me/phone/steps\n    attribute: steps\n    mode: update\n"
        (tmp_path / "config" / glue.DEFAULT_MAPPINGS_FILE).write_text(HOUSEHOLD + mine)
        addon.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: last_reload(tmp_path / "data") is not None, timeout=30)
        applied = last_reload(tmp_path / "data")
        assert applied["result"] == "applied", applied
        assert (applied["subscribed"], applied["restart_needed"]) == (["me/phone/steps"], [])
        pub = Publisher(addon.broker.port, login=(MQTT_USER, MQTT_PASSWORD))
        pub.publish("me/phone/steps", "1234")
        pub.close()
        wait_until(lambda: mock.value("steps", today()) == 1234, timeout=30)
        assert mock.value("steps", today(), "alex") == 4321

        log = addon.log_text()
        assert alex_token not in log and addon.mock.token not in log
        addon.proc.send_signal(signal.SIGTERM)
        assert addon.proc.wait(30) == 0
        # each account's writes with its own token: nothing of the other's
        assert mock.values("fridge_opens") == {today(): 1}
        assert mock.values("fridge_opens", "alex") == {today(): 1}
    finally:
        addon.close()
