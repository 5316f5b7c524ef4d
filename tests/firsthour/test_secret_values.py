"""`!secret` takes a single value (a string or a number) from secrets.yaml, never a list or a
mapping; a secrets.yaml that group/others may read gets the same warning as a token file."""

from __future__ import annotations

import pytest

from mqtt_bridge.config import ConfigError, load_config

CONFIG = """\
exist:
  token: !secret exist_token
attributes: [{template: coffees}]
mappings: [{topic: a, attribute: coffees}]
"""


@pytest.mark.parametrize("value", ["[1, 2]", "{a: 1}", "true"])
def test_a_secret_that_is_not_a_single_value_is_refused(tmp_path, value):
    (tmp_path / "bridge.yaml").write_text(CONFIG)
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text(f"exist_token: {value}\n")
    secrets.chmod(0o600)
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "bridge.yaml")
    text = str(err.value)
    assert "exist.token" in text and "!secret exist_token" in text
    assert "a single string or number" in text


@pytest.mark.parametrize(("value", "expected"), [("abc123", "abc123"), ("4711", "4711")])
def test_strings_and_numbers_still_work(tmp_path, value, expected):
    (tmp_path / "bridge.yaml").write_text(CONFIG)
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text(f"exist_token: {value}\n")
    secrets.chmod(0o600)
    config = load_config(tmp_path / "bridge.yaml")
    assert config.exist.token.reveal() == expected
    assert not [w for w in config.warnings if "secrets.yaml" in w]


def test_a_secrets_file_others_may_read_is_warned_about(tmp_path):
    (tmp_path / "bridge.yaml").write_text(CONFIG)
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text("exist_token: abc123\n")
    secrets.chmod(0o644)
    config = load_config(tmp_path / "bridge.yaml")
    [warning] = [w for w in config.warnings if "secrets.yaml" in w]
    assert "group/other permissions (mode 0644)" in warning
    assert f"chmod 600 {secrets}" in warning
