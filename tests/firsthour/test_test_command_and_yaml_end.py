"""`exist-bridge test` refuses a topic with wildcards (a message is published on one topic), and
a configuration cut off inside a '[' or '{' gets a plain sentence with the line it opened on."""

from __future__ import annotations

import io

import pytest

from mqtt_bridge import cli
from mqtt_bridge.config import ConfigError, parse_config

CONFIG = """\
exist: {token: t, timezone: UTC}
attributes: [{template: coffees}]
mappings: [{topic: "zigbee2mqtt/+", attribute: coffees}]
"""


@pytest.mark.parametrize("topic", ["#", "zigbee2mqtt/+", "a/#"])
def test_a_message_topic_with_wildcards_is_refused(tmp_path, topic):
    cfg = tmp_path / "bridge.yaml"
    cfg.write_text(CONFIG)
    out, err = io.StringIO(), io.StringIO()
    code = cli.run(["test", "-c", str(cfg), "-t", topic, "-m", "1"], out, err)
    assert code == 2
    assert "a message's topic has no wildcards" in err.getvalue()
    assert "effect" not in out.getvalue()


def test_a_plain_topic_still_works(tmp_path):
    cfg = tmp_path / "bridge.yaml"
    cfg.write_text(CONFIG)
    out, err = io.StringIO(), io.StringIO()
    assert cli.run(["test", "-c", str(cfg), "-t", "zigbee2mqtt/button", "-m", "1"], out, err) == 0


@pytest.mark.parametrize(
    ("text", "line", "bracket"),
    [
        ("exist: [\n", 1, "["),
        ("exist: {\n", 1, "{"),
        ("exist:\n  token: t\nmappings: [{topic: a,\n", 3, "["),
    ],
)
def test_a_file_cut_off_inside_brackets_is_said_plainly(text, line, bracket):
    with pytest.raises(ConfigError) as err:
        parse_config(text, "bridge.yaml")
    message = str(err.value)
    assert f"bridge.yaml:{line}:" in message, message
    assert f"a '{bracket}' opened on line {line} is never closed" in message, message
