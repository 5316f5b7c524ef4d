"""``read:``: off by default, what to mirror, errors naming key and line, and no mapping that
would consume the mirror's own topics."""

from __future__ import annotations

import pytest

from mqtt_bridge.config import ConfigError, parse_config
from mqtt_bridge.config.checks import filters_overlap

HEAD = "exist: {token: abc}\n"
MAPPINGS = "mappings: [{topic: zigbee2mqtt/button, attribute: coffees}]\n"


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_config(text, "bridge.yaml")
    return [p.format("bridge.yaml") for p in err.value.problems]


def test_reading_is_off_without_the_section():
    config = parse_config(HEAD + MAPPINGS)
    assert config.read.enabled is False


def test_names_groups_and_the_defaults():
    config = parse_config(HEAD + "read:\n  attributes: [mood, steps]\n  groups: sleep\n" + MAPPINGS)
    read = config.read
    assert read.enabled is True
    assert read.attributes == ("mood", "steps") and read.groups == ("sleep",)
    assert read.all is False
    assert read.interval == 3600  # hourly by default
    assert (read.averages, read.insights, read.topic_prefix) == (False, False, "exist")


def test_all_the_tokens_attributes():
    config = parse_config(
        HEAD + "read: {attributes: all, averages: yes, insights: true}\n" + MAPPINGS
    )
    assert config.read.all is True and config.read.attributes == ()
    assert config.read.averages is True and config.read.insights is True


def test_enabled_false_turns_a_written_section_off():
    config = parse_config(HEAD + "read: {enabled: false}\n" + MAPPINGS)
    assert config.read.enabled is False


@pytest.mark.parametrize(
    ("read", "expected"),
    [
        (
            "read:\n  attributes: [Mood]\n",
            "bridge.yaml:3: read.attributes: expected attribute names (lowercase letters, "
            "digits, _), got 'Mood'",
        ),
        ("read:\n  interval: 60\n", "bridge.yaml:2: read: read needs attributes"),
        (
            "read:\n  attributes: all\n  interval: 5\n",
            "bridge.yaml:4: read.interval: must be from 10 to 86400, got 5",
        ),
        (
            "read:\n  groups: [slep]\n",
            "bridge.yaml:3: read.groups: unknown group 'slep' (did you mean 'sleep'?)",
        ),
        (
            "read:\n  attributes: all\n  averges: true\n",
            "bridge.yaml:4: read.averges: unknown key (did you mean 'averages'?)",
        ),
    ],
)
def test_errors_name_the_key_and_the_line(read, expected):
    found = problems(HEAD + read + MAPPINGS)
    assert any(p.startswith(expected) for p in found), found


@pytest.mark.parametrize("topic", ["#", "exist/#", "+/mood/state", "exist/+/state", "+/#"])
def test_a_mapping_consuming_the_mirrors_topics_is_refused(topic):
    text = (
        HEAD
        + "read: {attributes: all}\n"
        + f"mappings:\n  - topic: '{topic}'\n    attribute: coffees\n"
    )
    found = problems(text)
    assert any(
        p.startswith("bridge.yaml:4: mappings[0].topic:")
        and "would consume the mirror's own topics (exist/#, read.topic_prefix)" in p
        for p in found
    ), found


def test_narrow_topics_and_another_prefix_are_fine():
    text = (
        HEAD
        + "read: {attributes: all, topic_prefix: exist/mirror}\n"
        + "mappings:\n  - {topic: exist/coffee_button, attribute: coffees}\n"
        + "  - {topic: zigbee2mqtt/#, attribute: coffees}\n"
    )
    assert parse_config(text).read.topic_prefix == "exist/mirror"
    # without read, the same wide filter is no loop
    assert parse_config(HEAD + "mappings: [{topic: '#', attribute: coffees}]\n").mappings


@pytest.mark.parametrize(
    ("first", "second", "overlap"),
    [
        ("exist/#", "exist/#", True),
        ("exist", "exist/#", True),  # '#' includes the parent level
        ("+", "exist/#", True),
        ("exist/mood", "exist/+/state", False),
        ("exist/mood/state", "exist/+/state", True),
        ("a/b", "a/b/c", False),
        ("sensors/#", "exist/#", False),
    ],
)
def test_filters_overlap(first, second, overlap):
    assert filters_overlap(first, second) is overlap
    assert filters_overlap(second, first) is overlap


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("false", None),
        ("true", ()),
        ("strong", ("strong",)),
        ("[strong, confident]", ("strong", "confident")),
    ],
)
def test_correlations_off_all_or_filtered(given, expected):
    config = parse_config(HEAD + f"read: {{attributes: all, correlations: {given}}}\n" + MAPPINGS)
    assert config.read.correlations == expected


def test_an_unknown_correlation_filter_is_named():
    found = problems(HEAD + "read:\n  attributes: all\n  correlations: [weak]\n" + MAPPINGS)
    assert found[0].startswith(
        "bridge.yaml:4: read.correlations: expected false, true, strong, confident or "
        "[strong, confident], got ['weak']"
    ), found


def test_check_says_what_is_read(tmp_path, capsys):
    from mqtt_bridge.cli import main

    path = tmp_path / "bridge.yaml"
    path.write_text(HEAD + "read: {attributes: [mood, sleep], groups: [workouts]}\n" + MAPPINGS)
    assert main(["check", "-c", str(path)]) == 0
    assert "read: mood, sleep, group workouts every 3600 s onto exist/<attribute>/state" in (
        capsys.readouterr().out
    )
