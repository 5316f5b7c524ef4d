"""The configuration package's shape (issue 12): per-mode mapping schemas, one declaration per
key, Exist's rules in ``mqtt_bridge.exist.domain``, and the generated reference's entry point."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from dataclasses import fields
from pathlib import Path

import pytest

from mqtt_bridge.config import ConfigError, parse_config

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "mqtt_bridge" / "config"


def problems(text: str) -> list[tuple[str, int | None, str]]:
    with pytest.raises(ConfigError) as info:
        parse_config(textwrap.dedent(text), "bridge.yaml", env={})
    return [(p.path, p.line, p.message) for p in info.value.problems]


def test_a_key_of_another_mode_is_reported_once_even_with_a_bad_value():
    # The mode's schema rejects the key itself; whether its value would be valid is moot.
    text = """\
    exist: {token: abc}
    mappings:
      - topic: a
        attribute: kwh
        mode: Update
        edge: {from: [1], to: true}
        scale: 0
        on_states: []
        amount: 0
    """
    assert problems(text) == [
        ("mappings[0].edge", 6, "edge only applies to increment mode"),
        ("mappings[0].scale", 7, "scale only applies to counter mode"),
        ("mappings[0].on_states", 8, "on_states only applies to duration mode"),
        (
            "mappings[0].amount",
            9,
            "amount only applies to increment mode (in update mode the message carries the total)",
        ),
    ]


def test_an_unknown_mode_is_reported_and_every_other_key_still_checked():
    text = """\
    exist: {token: abc}
    mappings:
      - topic: a
        attribute: kwh
        mode: add
        scale: 0
        retained: apply
        colour: red
    """
    assert [(path, line) for path, line, _ in problems(text)] == [
        ("mappings[0].mode", 5),
        ("mappings[0].scale", 6),
        ("mappings[0].colour", 8),
    ]


def test_a_template_only_value_type_is_named_in_messages():
    text = """\
    exist: {token: abc}
    attributes:
      - {name: waketime, label: Waketime, group: sleep, value_type: 6}
    mappings:
      - {topic: a, attribute: waketime}
    """
    assert (
        "mappings[0].attribute",
        5,
        "'waketime' has value type 6 (time of day (minutes from midday)), which Exist can't "
        "increment; use mode: update",
    ) in problems(text)


def test_every_schema_key_is_a_field_of_its_dataclass():
    # build.py copies keys to fields by name: a key without a field would be dropped silently.
    from mqtt_bridge.config import model, schema
    from mqtt_bridge.config.source import SECRET_FILES

    sections = {
        "exist": (schema.EXIST_SCHEMA, model.ExistSettings),
        "mqtt": (schema.MQTT_SCHEMA, model.MqttSettings),
        "mqtt.tls": (schema.TLS_SCHEMA, model.TlsSettings),
        "bridge": (schema.BRIDGE_SCHEMA, model.BridgeSettings),
        "attributes[]": (schema.ATTRIBUTE_CUSTOM_SCHEMA, model.AttributeSpec),
        "attributes[] (template)": (schema.ATTRIBUTE_TEMPLATE_SCHEMA, model.AttributeSpec),
        "mappings[]": (schema.MAPPING_SCHEMA, model.MappingSpec),
    }
    file_keys = {f"{key}_file" for _, key in SECRET_FILES}
    missing = [
        f"{name}.{marker.schema}"
        for name, (section, cls) in sections.items()
        for marker in section.schema
        if marker.schema not in {f.name for f in fields(cls)} | file_keys
    ]
    assert missing == []


def test_exist_domain_imports_nothing_from_the_bridge():
    from mqtt_bridge.exist import domain

    tree = ast.parse(Path(domain.__file__).read_text())
    imported = [
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    ]
    assert imported and not [m for m in imported if m is None or m.startswith("mqtt_bridge")]
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level]


def test_exist_domain_rules():
    from mqtt_bridge.exist import client as exist_client
    from mqtt_bridge.exist import domain

    assert domain.name_from_label("Time reading") == "time_reading"  # the guide's example
    assert domain.name_from_label("  Café  visits!! ") == "cafe_visits"
    assert domain.MAX_ITEMS_PER_REQUEST == exist_client.MAX_ITEMS == 35
    assert set(domain.CREATABLE_VALUE_TYPES) == set(range(9)) - {6}


def test_no_config_module_is_over_600_lines():
    sizes = {p.name: len(p.read_text().splitlines()) for p in PACKAGE.glob("*.py")}
    assert {"model.py", "source.py", "schema.py", "checks.py", "build.py"} <= set(sizes)
    assert {name: n for name, n in sizes.items() if n > 600} == {}


@pytest.mark.slow
def test_python_m_config_prints_the_reference():
    from mqtt_bridge.config.reference import reference_table

    run = subprocess.run(
        [sys.executable, "-m", "mqtt_bridge.config"], capture_output=True, text=True, cwd=ROOT
    )
    assert (run.returncode, run.stderr) == (0, "")
    assert run.stdout == reference_table() + "\n"


@pytest.mark.slow
def test_python_m_config_write_without_markers_is_a_one_line_error(tmp_path):
    target = tmp_path / "NOTES.md"
    target.write_text("# no markers here\n")
    run = subprocess.run(
        [sys.executable, "-m", "mqtt_bridge.config", "--write", str(target)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == [
        f"python -m mqtt_bridge.config: error: {target}: the config-reference markers are missing"
    ]
    assert target.read_text() == "# no markers here\n"


def test_the_schemas_structural_errors_are_worded_by_the_bridge_not_voluptuous():
    # Unknown keys, missing keys and sections that aren't mappings, at each depth: the words are
    # the validators' own (validators.Section), so a voluptuous release can't change them.
    text = """\
    exist: {token: abc, tokn: x}
    mqtt:
      tls: [ca.pem]
      hots: broker
    bridge: 5
    attributes:
      - {name: fridge_opens, label: Fridge, group: food}
      - 7
    mappings:
      - topic: a
        attribute: coffees
        edge: {to: true, frm: false}
        on: 1
      - attribute: steps
    """
    assert problems(text) == [
        ("exist.tokn", 1, "unknown key (did you mean 'token'?)"),
        ("mqtt.tls", 3, "expected a mapping (indented key: value lines)"),
        ("mqtt.hots", 4, "unknown key (did you mean 'host'?)"),
        ("bridge", 5, "expected a mapping (indented key: value lines)"),
        ("attributes[0].value_type", 7, "required key is missing"),
        ("attributes[1]", 8, "expected a mapping (indented key: value lines)"),
        (
            "mappings[0][True]",
            10,  # (the YAML key true has no line of its own: its mapping's)
            "unknown key true (YAML reads an unquoted on/off/yes/no key as a boolean; for "
            "duration mode's on states write on_states)",
        ),
        ("mappings[0].edge.frm", 12, "unknown key (did you mean 'from'?)"),
        ("mappings[1].topic", 14, "required key is missing"),
    ]
