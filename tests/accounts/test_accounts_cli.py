"""The command line with several accounts: `authorize -c FILE --account NAME` writes that
account's token file."""

from __future__ import annotations

import argparse
import io
import re
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from mqtt_bridge import cli
from mqtt_bridge.cli import _authorize_settings, _Output

CONFIG = """\
exist:
  base_url: http://127.0.0.1:9
  client_id: my_app
  client_secret: s3cret
  accounts:
    - name: alice
      token_file: alice.json
    - name: bob
      token_file: bob.json
mappings: [{topic: a, attribute: coffees}]
"""


def settings(tmp_path, account):
    config = tmp_path / "bridge.yaml"
    config.write_text(CONFIG)
    args = argparse.Namespace(
        config=str(config),
        account=account,
        client_id=None,
        client_secret=None,
        exist_base_url=None,
        token_file=None,
    )
    err = io.StringIO()
    return _authorize_settings(args, _Output(io.StringIO(), err)), err.getvalue()


@pytest.mark.parametrize(("account", "file"), [(None, "alice.json"), ("bob", "bob.json")])
def test_authorize_writes_the_named_accounts_token_file(tmp_path, monkeypatch, account, file):
    monkeypatch.delenv("EXIST_TOKEN_FILE", raising=False)
    found, _ = settings(tmp_path, account)
    assert found["token_file"] == str(tmp_path / file)
    assert found["client_id"] == "my_app" and found["client_secret"] == "s3cret"


def test_authorize_names_the_accounts_when_one_is_unknown(tmp_path):
    found, err = settings(tmp_path, "carol")
    assert found is None
    assert "no account 'carol' in exist.accounts (alice, bob)" in err


def test_exist_bridge_test_says_whose_each_effect_is_in_its_time_zone(tmp_path):
    config = tmp_path / "house.yaml"
    config.write_text(
        "exist:\n"
        "  timezone: UTC\n"
        "  accounts:\n"
        "    - {name: alice, token: a}\n"
        "    - {name: bob, token: b, timezone: Pacific/Kiritimati}\n"
        "attributes: [{template: coffees}]\n"
        "mappings:\n"
        "  - {topic: button/coffee, attribute: coffees}\n"
        "  - {topic: button/coffee, attribute: coffees, account: bob}\n"
        f"bridge: {{state_dir: {tmp_path / 'state'}}}\n"
    )
    out, err = io.StringIO(), io.StringIO()
    before = datetime.now(timezone.utc)
    code = cli.run(["test", "-c", str(config), "-t", "button/coffee", "-m", "press"], out, err)
    after = datetime.now(timezone.utc)
    text = out.getvalue()
    assert code == 0, err.getvalue()

    def days(zone: str) -> set[str]:  # the run may straddle a midnight
        return {t.astimezone(ZoneInfo(zone)).date().isoformat() for t in (before, after)}

    [alice] = re.findall(r"effect: add 1 -> coffees on (\S+) \(account alice\)", text)
    [bob] = re.findall(r"effect: add 1 -> coffees on (\S+) \(account bob\)", text)
    assert alice in days("UTC") and bob in days("Pacific/Kiritimati")
    assert alice != bob or days("UTC") & days("Pacific/Kiritimati")
