"""The traps YAML and paths set: `$.`-style json_path refused with the fix, unquoted on/off/yes/no
among a mapping's states warned about (line and quoting fix), syntax errors in plain sentences
on the right line."""

from __future__ import annotations

import pytest

from mqtt_bridge.config import ConfigError, parse_config

HEAD = "exist: {token: a, timezone: UTC}\nattributes: [{template: coffees}]\nmappings:\n"


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_config(text, "bridge.yaml")
    return [p.format("bridge.yaml") for p in err.value.problems]


@pytest.mark.parametrize(
    ("path", "fix"),
    [
        ("$.contact", "write json_path: contact"),
        ("$.data.steps", "write json_path: data.steps"),
        ("$[0].kg", "write json_path: [0].kg"),
        ("value_json.contact", "write json_path: contact"),
        ("$", "leave json_path out (the whole payload)"),
    ],
)
def test_jsonpath_style_is_refused_with_the_fix(path, fix):
    text = HEAD + f"  - topic: a\n    attribute: coffees\n    json_path: '{path}'\n"
    [message] = problems(text)
    assert message.startswith(f"bridge.yaml:6: mappings[0].json_path: {path!r} is ")
    assert message.endswith(f"json_path is a plain dotted path from the top of the payload: {fix}")
    # and the fix works
    parse_config(
        text.replace(f"'{path}'", f"'{fix.split(': ', 1)[1]}'")
        if ": " in fix
        else text.replace(f"    json_path: '{path}'\n", "")
    )


def test_unquoted_states_are_warned_about_with_their_line():
    text = HEAD + (
        "  - topic: a\n    attribute: coffees\n    mode: duration\n    on_states: [on, yes]\n"
        "  - topic: b\n    attribute: coffees\n    edge: {from: yes, to: off}\n"
        "  - topic: c\n    attribute: coffees\n    edge: {from: 'on', to: false}\n"
    )
    config = parse_config(text, "bridge.yaml")
    assert config.warnings == [
        "bridge.yaml:7: mappings[0].on_states[0]: YAML reads the unquoted on as the boolean "
        "true; it still matches a device's 'on', but quote it to say so: \"on\"",
        "bridge.yaml:7: mappings[0].on_states[1]: YAML reads the unquoted yes as the boolean "
        "true; a device's text 'yes' never equals it: quote it: \"yes\"",
        "bridge.yaml:10: mappings[1].edge.from: YAML reads the unquoted yes as the boolean true; "
        "a device's text 'yes' never equals it: quote it: \"yes\"",
        "bridge.yaml:10: mappings[1].edge.to: YAML reads the unquoted off as the boolean false; "
        "it still matches a device's 'off', but quote it to say so: \"off\"",
    ]


def test_booleans_outside_mappings_are_fine():
    config = parse_config(
        "exist: {token: a}\nmqtt: {discovery: yes, persistent_session: on}\n"
        "attributes: [{template: coffees}]\nmappings: [{topic: a, attribute: coffees}]\n"
    )
    assert config.warnings == []


@pytest.mark.parametrize(
    ("text", "line", "sentence"),
    [
        (
            "  - topic: a\n    attribute: coffees\n   mode: update\n",
            6,
            "this line is not indented like the lines above it",
        ),
        ('  - topic: "a\n    attribute: coffees\n', 4, "a quote opened on line 4 is never closed"),
        ("  - topic: a\n\tattribute: coffees\n", 5, "a tab character: YAML indents with spaces"),
        ("  - topic: a\n    attribute coffees\n  - topic: b\n", 5, "a line without 'key: value'"),
        (
            "  - topic: a\n    attribute: coffees\n    condition: value: x\n",
            6,
            "': ' inside a value: quote the value",
        ),
        ("  - {topic: a, attribute: coffees\n", 4, "a '{' opened on line 4 is not closed"),
    ],
)
def test_syntax_errors_are_a_plain_sentence_on_the_right_line(text, line, sentence):
    [message] = problems(HEAD + text)
    assert message.startswith(f"bridge.yaml:{line}: YAML syntax error: {sentence}")
    assert "(the parser: " in message  # the parser's own words kept, after the sentence
