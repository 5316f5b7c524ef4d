"""`exist-bridge check`: a mapping to an attribute Exist won't know is an error (did-you-mean)."""

from __future__ import annotations

import io

from mqtt_bridge.cli import run as cli_run
from mqtt_bridge.exist.domain import TEMPLATES

CONFIG = """\
exist:
  token: abc
  timezone: UTC
attributes:
  - name: fridge_opens
    label: Fridge opens
    group: food
    value_type: 0
mappings:
  - topic: zigbee2mqtt/coffee_button
    attribute: {attribute}
"""


def check(tmp_path, attribute: str) -> tuple[int, str, str]:
    path = tmp_path / "bridge.yaml"
    path.write_text(CONFIG.format(attribute=attribute))
    out, err = io.StringIO(), io.StringIO()
    code = cli_run(["check", "-c", str(path)], out, err)
    return code, out.getvalue(), err.getvalue()


def test_a_mistyped_template_is_an_error_with_did_you_mean(tmp_path):
    code, out, err = check(tmp_path, "cofees")
    assert code == 1
    lines = [line for line in err.splitlines() if "cofees" in line]
    assert lines == [
        f"{tmp_path / 'bridge.yaml'}:11: mappings[0].attribute: 'cofees' is neither listed under "
        "attributes nor an Exist template; did you mean 'coffees'?"
    ]


def test_a_mistyped_declared_attribute_suggests_it(tmp_path):
    code, _, err = check(tmp_path, "fridge_open")
    assert code == 1
    assert (
        "'fridge_open' is neither listed under attributes nor an Exist template; did you "
        "mean 'fridge_opens'?" in err
    )


def test_an_unknown_name_without_close_match_says_how_to_declare_it(tmp_path):
    code, _, err = check(tmp_path, "zzqx")
    assert code == 1
    assert "declare it under attributes (name, label, group, value_type)" in err


def test_a_template_or_a_declared_attribute_passes(tmp_path):
    for attribute in ("coffees", "fridge_opens"):
        code, out, err = check(tmp_path, attribute)
        assert code == 0, err
        assert "OK (1 mapping(s)" in out


def test_run_logs_the_same_error_without_refusing_to_parse():
    from mqtt_bridge.config import parse_config

    config = parse_config(CONFIG.format(attribute="cofees"), "bridge.yaml")
    assert config.check_errors == [
        "bridge.yaml:11: mappings[0].attribute: 'cofees' is neither listed under attributes nor "
        "an Exist template; did you mean 'coffees'?"
    ]
    assert config.warnings == []


def test_the_template_list_is_the_documented_one():
    # reference/object_types.md lists 86 templates; a few with their value types
    assert len(TEMPLATES) == 86
    assert (TEMPLATES["coffees"], TEMPLATES["mood"], TEMPLATES["sleep_start"]) == (0, 8, 6)
