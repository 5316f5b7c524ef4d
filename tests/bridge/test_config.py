"""The configuration: defaults, every problem with its path and line, secrets."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from mqtt_bridge.config import (
    BridgeConfig,
    ConfigError,
    Problem,
    Secret,
    describe_schema,
    load_config,
    parse_config,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "mqtt_bridge" / "config" / "example.yaml"
ENV = {"EXIST_TOKEN": "tok-0123456789", "MQTT_PASSWORD": "mqtt-pass-987"}


def parse(text: str, **kwargs) -> BridgeConfig:
    return parse_config(textwrap.dedent(text), "bridge.yaml", env=kwargs.pop("env", ENV), **kwargs)


def problems(text: str, **kwargs) -> list[tuple[str, int | None, str]]:
    with pytest.raises(ConfigError) as info:
        parse(text, **kwargs)
    return [(p.path, p.line, p.message) for p in info.value.problems]


def where(text: str, **kwargs) -> list[tuple[str, int | None]]:
    return [(path, line) for path, line, _ in problems(text, **kwargs)]


MINIMAL = """\
exist:
  token: abc
mappings:
  - topic: zigbee2mqtt/fridge_door
    attribute: fridge_opens
"""


# ----------------------------------------------------------------------------- valid configs


def test_minimal_config_gets_every_default():
    config = parse(MINIMAL)
    assert config.exist.base_url == "https://exist.io"
    assert config.exist.token.reveal() == "abc"
    assert config.exist.token_file is None and config.exist.timezone is None
    assert (config.exist.requests_per_hour, config.exist.timeout) == (280, 30)
    m = config.mqtt
    assert (m.host, m.port, m.username, m.password, m.tls) == ("localhost", 1883, None, None, None)
    assert (m.client_id, m.keepalive, m.qos, m.persistent_session) == ("exist-bridge", 60, 1, True)
    assert (m.topic_prefix, m.discovery, m.discovery_prefix) == (
        "exist-bridge",
        False,
        "homeassistant",
    )
    b = config.bridge
    assert (b.state_dir, b.event_delay, b.total_delay, b.max_payload_bytes, b.log_level) == (
        Path("state"),
        300,
        3600,
        262_144,
        "INFO",
    )
    assert config.attributes == []
    spec = config.mappings[0]
    assert (spec.topic, spec.attribute, spec.mode, spec.amount, spec.retained) == (
        "zigbee2mqtt/fridge_door",
        "fridge_opens",
        "increment",
        1,
        "ignore",
    )
    assert spec.json_path is spec.value_template is spec.condition is spec.edge is None
    assert spec.line == 4
    assert config.source == "bridge.yaml"
    assert config.topics == ["zigbee2mqtt/fridge_door"]


def test_full_config_parses(tmp_path):
    (tmp_path / "ca.pem").write_text("x")
    config = parse(
        f"""\
        exist:
          base_url: http://127.0.0.1:5000/
          token: !env EXIST_TOKEN
          client_id: my-client
          client_secret: shh
          timezone: Australia/Melbourne
          requests_per_hour: 100
          timeout: 12.5
        mqtt:
          host: broker
          username: bridge
          password: !env MQTT_PASSWORD
          tls:
            ca_certs: {tmp_path / "ca.pem"}
            insecure: true
          client_id: bridge-1
          keepalive: 30
          qos: 0
          persistent_session: false
          topic_prefix: home/exist/
          discovery: true
          discovery_prefix: ha
        bridge:
          state_dir: /var/lib/exist-bridge
          event_delay: 300
          max_payload_bytes: 1024
          log_level: debug
        attributes:
          - template: steps
          - name: fridge_opens
            label: Fridge opens
            group: Food
            value_type: 0
        mappings:
          - topic: zigbee2mqtt/+/door
            attribute: fridge_opens
            json_path: contact
            edge: {{from: true, to: "OFF"}}
            condition: "{{{{ value_json.battery > 5 }}}}"
          - topic: health/#
            attribute: steps
            mode: update
            value_template: "{{{{ value_json.data.steps }}}}"
            retained: apply
        """
    )
    assert config.exist.base_url == "http://127.0.0.1:5000"  # trailing slash dropped
    assert config.exist.token.reveal() == "tok-0123456789"
    assert config.exist.client_secret.reveal() == "shh"
    assert config.exist.timezone == "Australia/Melbourne"
    assert (config.exist.requests_per_hour, config.exist.timeout) == (100, 12.5)
    assert config.mqtt.password.reveal() == "mqtt-pass-987"
    assert config.mqtt.port == 8883  # the TLS default
    assert config.mqtt.tls.ca_certs == tmp_path / "ca.pem" and config.mqtt.tls.insecure is True
    assert config.mqtt.topic_prefix == "home/exist"
    assert (config.mqtt.qos, config.mqtt.persistent_session) == (0, False)
    assert config.bridge.log_level == "DEBUG"
    assert config.bridge.state_dir == Path("/var/lib/exist-bridge")
    custom = config.attributes[1]
    assert (custom.name, custom.label, custom.group, custom.value_type, custom.custom) == (
        "fridge_opens",
        "Fridge opens",
        "food",
        0,
        True,
    )
    assert config.attributes[0].custom is False and config.attributes[0].name == "steps"
    edge = config.mappings[0].edge
    assert (edge.from_, edge.to, edge.has_from) == (True, False, True)  # "OFF" normalised
    assert config.mappings[1].retained == "apply"
    assert config.warnings == []


def test_tls_true_means_system_cas_and_port_8883():
    config = parse(MINIMAL + "mqtt:\n  tls: true\n")
    assert config.mqtt.tls is not None and config.mqtt.tls.ca_certs is None
    assert config.mqtt.port == 8883


def test_empty_sections_are_defaults():
    config = parse(MINIMAL + "mqtt:\nbridge:\nattributes:\n")
    assert config.mqtt.host == "localhost" and config.attributes == []


def test_env_values_are_coerced_for_numbers_and_booleans():
    config = parse(
        MINIMAL + "mqtt:\n  port: !env PORT\n  discovery: !env DISCOVERY\n",
        env={"PORT": "1884", "DISCOVERY": "yes"},
    )
    assert config.mqtt.port == 1884 and config.mqtt.discovery is True


def test_yaml_merge_keys_work_and_keep_lines():
    text = """\
    exist: {token: abc}
    base: &door
      json_path: contact
      edge: {from: true, to: false}
    mappings:
      - <<: *door
        topic: a
        attribute: a_opens
      - <<: *door
        topic: b
        attribute: b_opens
        json_path: [1]
    """
    # `base` is not a known section, and the bad json_path overrides the merged one
    assert where(text) == [("base", 2), ("mappings[1].json_path", 12)]


def test_example_config_parses(monkeypatch):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    config = load_config(EXAMPLE)
    assert config.warnings == []
    assert [m.attribute for m in config.mappings] == ["fridge_opens", "coffees", "steps", "weight"]
    assert config.bridge.state_dir == EXAMPLE.parent / "state"  # relative to the file
    assert config.mqtt.password.reveal() == ENV["MQTT_PASSWORD"]


# ----------------------------------------------------------------------------- problems


def test_unknown_keys_are_errors_with_a_suggestion():
    found = problems(
        """\
        exist:
          token: abc
        mqtt:
          hots: broker
        mappings:
          - topic: a
            attribute: b
            jsonpath: x
        extras: 1
        """
    )
    assert found == [
        ("mqtt.hots", 4, "unknown key (did you mean 'host'?)"),
        ("mappings[0].jsonpath", 8, "unknown key (did you mean 'json_path'?)"),
        (
            "extras",
            9,
            "unknown key (known keys: exist, mqtt, bridge, http, read, attributes, mappings)",
        ),
    ]


def test_missing_required_keys_point_at_the_parent():
    text = """\
    exist:
      timezone: Europe/London
    mappings:
      - topic: a
      - attribute: b
    """
    assert problems(text) == [
        (
            "exist.token",
            1,
            "required: token (a personal token, e.g. !env EXIST_TOKEN) or token_file (from "
            "`exist-bridge authorize`)",
        ),
        ("mappings[0].attribute", 4, "required key is missing"),
        ("mappings[1].topic", 5, "required key is missing"),
    ]


def test_missing_sections():
    assert where("bridge:\n  log_level: INFO\n") == [("exist", 1), ("mappings", 1)]
    assert problems(
        MINIMAL.replace("  - topic", "  # - topic").replace("    attr", "#    attr")
    ) == [("mappings", 3, "expected a list of mappings (lines starting with '- ')")]
    assert problems("exist: {token: x}\nmappings: []\n") == [
        ("mappings", 2, "needs at least 1 mapping")
    ]


def test_every_value_check_reports_path_and_line():
    text = """\
    exist:
      base_url: ftp://exist.io
      token: abc
      timezone: Mars/Olympus
      requests_per_hour: 301
      timeout: fast
    mqtt:
      port: 0
      keepalive: 2
      qos: 3
      persistent_session: maybe
      topic_prefix: a/+/b
    bridge:
      event_delay: 0.5
      max_payload_bytes: 0
      log_level: LOUD
    attributes:
      - template: Steps
      - name: fridge_opens
        label: Fridge opens
        group: fod
        value_type: 6
    mappings:
      - topic: a/b#
        attribute: fridge-opens
        mode: add
        json_path: data..steps
        amount: 0
        retained: maybe
      - topic: x
        attribute: y
        condition: "{{ value_json.a = 1 }}"
        edge: {from: [1], to: true}
    """
    found = problems(text)
    assert [(p, line) for p, line, _ in found] == [
        ("exist.base_url", 2),
        ("exist.timezone", 4),
        ("exist.requests_per_hour", 5),
        ("exist.timeout", 6),
        ("mqtt.port", 8),
        ("mqtt.keepalive", 9),
        ("mqtt.qos", 10),
        ("mqtt.persistent_session", 11),
        ("mqtt.topic_prefix", 12),
        ("bridge.event_delay", 14),
        ("bridge.max_payload_bytes", 15),
        ("bridge.log_level", 16),
        ("attributes[0].template", 18),
        ("attributes[1].group", 21),
        ("attributes[1].value_type", 22),
        ("mappings[0].topic", 24),
        ("mappings[0].attribute", 25),
        ("mappings[0].mode", 26),
        ("mappings[0].json_path", 27),
        ("mappings[0].amount", 28),
        ("mappings[0].retained", 29),
        ("mappings[1].condition", 32),
        ("mappings[1].edge.from", 33),
    ]
    messages = {p: m for p, _, m in found}
    assert (
        messages["exist.timezone"]
        == "unknown time zone 'Mars/Olympus' (expected e.g. Europe/London)"
    )
    assert messages["mqtt.port"] == "must be from 1 to 65535, got 0"
    assert "did you mean 'food'?" in messages["attributes[1].group"]
    assert messages["attributes[1].value_type"] == (
        "value type 6 (minutes from midday) is reserved for templates"
    )
    assert "wildcard (+ or #) must be a whole level" in messages["mappings[0].topic"]
    assert messages["mappings[1].condition"].startswith("template error: ")
    assert messages["bridge.log_level"] == (
        "expected one of DEBUG, INFO, WARNING, ERROR, got 'LOUD'"
    )


@pytest.mark.parametrize(
    ("topic", "ok"),
    [
        ("a/b", True),
        ("#", True),
        ("a/#", True),
        ("+/+/c", True),
        ("+", True),
        ("/a//b/", True),
        ("a/#/b", False),
        ("a/b#", False),
        ("a+/b", False),
        ("", False),
        ("a\\u0000b", False),  # YAML's escape for NUL
    ],
)
def test_topic_filters_follow_paho_rules(topic, ok):
    text = f'exist: {{token: x}}\nmappings:\n  - topic: "{topic}"\n    attribute: a\n'
    if ok:
        assert parse(text).mappings[0].topic == topic
    else:
        assert where(text) == [("mappings[0].topic", 3)]


def test_cross_field_checks():
    text = """\
    exist:
      token: abc
    attributes:
      - name: mood_text
        label: Mood text
        group: mood
        value_type: 2
      - name: cups
        label: Cups
        group: food
        value_type: 0
    mappings:
      - topic: a
        attribute: steps
        json_path: x
        value_template: "{{ value }}"
      - topic: b
        attribute: steps
        mode: update
        edge: {to: false}
        amount: value
      - topic: c
        attribute: coffees
        retained: apply
      - topic: d
        attribute: mood_text
      - topic: e
        attribute: cups
        amount: 0.5
      - topic: f
        attribute: coffees
        edge: {from: "on", to: true}
    """
    found = problems(text)
    assert found == [
        ("mappings[0].value_template", 16, "json_path and value_template are exclusive"),
        (
            "mappings[1].mode",
            19,
            "attribute 'steps' is fed in increment mode by mappings[0] and in update mode here; "
            "one attribute takes either updates or increments",
        ),
        ("mappings[1].edge", 20, "edge only applies to increment mode"),
        (
            "mappings[1].amount",
            21,
            "amount only applies to increment mode (in update mode the message carries the total)",
        ),
        (
            "mappings[2].retained",
            24,
            "retained: apply only applies to update mode (a retained message is a snapshot, "
            "not an event)",
        ),
        (
            "mappings[3].attribute",
            26,
            "'mood_text' has value type 2 (string), which Exist can't increment; use mode: update",
        ),
        (
            "mappings[4].amount",
            29,
            "'cups' holds integers (value type 0); amount must be a whole number",
        ),
        ("mappings[5].edge", 32, "from and to are the same state"),
    ]


def test_counter_and_duration_modes_parse():
    config = parse(
        """\
        exist:
          token: abc
        attributes:
          - {name: energy_kwh, label: Energy kwh, group: custom, value_type: 1}
          - {name: office_minutes, label: Office minutes, group: custom, value_type: 3}
          - {name: kitchen_minutes, label: Kitchen minutes, group: custom, value_type: 3}
        mappings:
          - topic: tele/plug/SENSOR
            attribute: energy_kwh
            mode: counter
            json_path: ENERGY.Total
          - topic: shellies/plug/relay/0/energy
            attribute: energy_kwh
            mode: counter
            scale: 0.0000166667
          - topic: zigbee2mqtt/office_motion
            attribute: office_minutes
            mode: duration
            json_path: occupancy
          - topic: zigbee2mqtt/kitchen_motion
            attribute: kitchen_minutes
            mode: duration
            on_states: [Occupied, "ON", 1]
        """
    )
    tasmota, shelly, office, kitchen = config.mappings
    assert (tasmota.mode, tasmota.scale, tasmota.on_states) == ("counter", 1, None)
    assert (shelly.mode, shelly.scale) == ("counter", 0.0000166667)
    assert (office.mode, office.on_states, office.scale) == ("duration", None, 1)
    assert kitchen.on_states == ("Occupied", True, 1)  # normalised like edge states
    assert config.warnings == []


def test_counter_and_duration_checks_name_key_and_line():
    text = """\
    exist:
      token: abc
    attributes:
      - {name: note, label: Note, group: custom, value_type: 2}
      - {name: happy, label: Happy, group: custom, value_type: 5}
      - {name: kwh, label: Kwh, group: custom, value_type: 1}
    mappings:
      - topic: a
        attribute: kwh
        mode: counter
        edge: {to: true}
        amount: 2
        retained: apply
        on_states: occupied
      - topic: b
        attribute: happy
        mode: duration
        scale: 2
        retained: apply
      - topic: c
        attribute: note
        mode: counter
      - topic: d
        attribute: kwh
        scale: 0.001
        on_states: "on"
      - topic: e
        attribute: kwh
        mode: update
    """
    assert problems(text) == [
        ("mappings[0].edge", 11, "edge only applies to increment mode"),
        (
            "mappings[0].amount",
            12,
            "amount only applies to increment mode (counter mode adds the reading's increase, "
            "times scale)",
        ),
        (
            "mappings[0].retained",
            13,
            "retained: apply only applies to update mode (counter mode always compares a "
            "retained reading with the last one, and counts only an increase)",
        ),
        ("mappings[0].on_states", 14, "on_states only applies to duration mode"),
        (
            "mappings[1].mode",
            17,
            "'happy' has value type 5 (percentage (0.0-1.0)); duration mode adds minutes: give it "
            "value type 3 (duration), or 0 or 1",
        ),
        ("mappings[1].scale", 18, "scale only applies to counter mode"),
        (
            "mappings[1].retained",
            19,
            "retained: apply only applies to update mode (in duration mode a retained state "
            "never adds time: when it changed is unknown)",
        ),
        (
            "mappings[2].mode",
            22,
            "'note' has value type 2 (string), which Exist can't increment; use mode: update",
        ),
        ("mappings[3].scale", 25, "scale only applies to counter mode"),
        ("mappings[3].on_states", 26, "on_states only applies to duration mode"),
        (
            "mappings[4].mode",
            29,
            "attribute 'kwh' is fed in counter mode by mappings[0] and in update mode here; "
            "one attribute takes either updates or increments",
        ),
    ]


def test_counter_and_increment_may_feed_one_attribute():
    config = parse(
        """\
        exist: {token: abc}
        mappings:
          - {topic: a, attribute: kwh, mode: counter}
          - {topic: b, attribute: kwh, amount: 0.5}
          - {topic: c, attribute: minutes, mode: duration}
          - {topic: d, attribute: minutes}
        """
    )
    assert [m.mode for m in config.mappings] == ["counter", "increment", "duration", "increment"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "expected a positive number (e.g. 0.001 to turn Wh into kWh), got 0"),
        ("-0.001", "expected a positive number (e.g. 0.001 to turn Wh into kWh), got -0.001"),
        (".nan", "expected a positive number (e.g. 0.001 to turn Wh into kWh), got nan"),
        ("kwh", "expected a positive number (e.g. 0.001 to turn Wh into kWh), got 'kwh'"),
        ("true", "expected a positive number (e.g. 0.001 to turn Wh into kWh), got True"),
    ],
)
def test_scale_must_be_a_positive_number(value, message):
    text = "exist: {token: abc}\nmappings:\n  - topic: a\n    attribute: kwh\n"
    text += f"    mode: counter\n    scale: {value}\n"
    assert problems(text) == [("mappings[0].scale", 6, message)]


def test_on_states_values_are_checked():
    text = """\
    exist: {token: abc}
    mappings:
      - topic: a
        attribute: minutes
        mode: duration
        on_states: []
      - topic: b
        attribute: minutes
        mode: duration
        on_states: [occupied, {x: 1}]
    """
    assert problems(text) == [
        ("mappings[0].on_states", 6, "expected at least one state"),
        ("mappings[1].on_states[1]", 10, "expected a single state value, got {'x': 1}"),
    ]


def test_an_unquoted_on_key_gets_a_hint():
    text = """\
    exist: {token: abc}
    mappings:
      - topic: a
        attribute: minutes
        mode: duration
        on: occupied
    """
    [(path, line, message)] = problems(text)
    assert path == "mappings[0][True]" and line == 3
    assert message == (
        "unknown key true (YAML reads an unquoted on/off/yes/no key as a boolean; for duration "
        "mode's on states write on_states)"
    )


def test_duplicate_keys_and_attributes():
    text = """\
    exist:
      token: abc
      token: def
    attributes:
      - template: steps
      - template: steps
    mappings:
      - {topic: a, attribute: steps, mode: update}
    """
    assert problems(text) == [
        ("exist.token", 3, "duplicate key (first on line 2); YAML keeps only the last"),
        ("attributes[1].template", 6, "attribute 'steps' is already listed at attributes[0]"),
    ]


def test_token_rules():
    assert problems(
        "exist: {token: a, token_file: t.json}\nmappings: [{topic: a, attribute: b}]\n"
    ) == [("exist.token_file", 1, "give token or token_file, not both")]
    assert where("exist: {token: a, client_secret: s}\nmappings: [{topic: a, attribute: b}]\n") == [
        ("exist.client_id", 1)
    ]


def test_warnings_for_unlisted_attributes_and_labels():
    config = parse(
        """\
        exist:
          token_file: tokens.json
        attributes:
          - name: fridge_opens
            label: Fridge door
            group: food
            value_type: 0
        mappings:
          - {topic: a, attribute: fridge_opens}
          - {topic: b, attribute: coffees}
          - {topic: c, attribute: coffees}
        """
    )
    assert config.warnings == [
        "bridge.yaml:2: exist.token_file: without client_id and client_secret the OAuth2 token "
        "can't be refreshed when it expires",
        "bridge.yaml:5: attributes[0].label: Exist names a new attribute after its label "
        "('fridge_door'), not 'fridge_opens': if 'fridge_opens' doesn't exist yet, creating it "
        "gives 'fridge_door'",
        "bridge.yaml:10: mappings[1].attribute: 'coffees' is not listed under attributes: the "
        "bridge won't acquire it, so it must already belong to this client",
    ]
    assert config.exist.token_file == Path("tokens.json")


def test_template_errors_name_the_key_line():
    text = """\
    exist: {token: abc}
    mappings:
      - topic: a
        attribute: b
        value_template: |
          {% if value_json.x %}
          1
          {% endfor %}
      - topic: c
        attribute: d
        condition: "{{ now() }}"
    """
    found = problems(text)
    assert [(p, line) for p, line, _ in found] == [
        ("mappings[0].value_template", 5),
        ("mappings[1].condition", 11),
    ]
    assert "template line 3" in found[0][2]
    assert "unknown variable 'now'" in found[1][2]


def test_unquoted_template_gets_a_hint():
    text = "exist: {token: a}\nmappings:\n  - topic: a\n    attribute: b\n    condition: {{ x }}\n"
    [(path, line, message)] = problems(text)
    assert (path, line) == ("", 5)
    assert message.startswith("YAML syntax error") and 'quoted? write "{{ ... }}"' in message


def test_many_problems_at_once_in_file_order():
    text = """\
    exist:
      token: !env NOPE
    mqtt:
      port: 70000
      bogus: 1
    mappings:
      - topic: a/#/b
        attribute: B
      - topic: ok
        attribute: ok
        mode: sideways
    """
    found = problems(text, env={})
    assert [(p, line) for p, line, _ in found] == [
        ("exist.token", 2),
        ("mqtt.port", 4),
        ("mqtt.bogus", 5),
        ("mappings[0].topic", 7),
        ("mappings[0].attribute", 8),
        ("mappings[1].mode", 11),
    ]


def test_config_error_str_lists_every_problem():
    with pytest.raises(ConfigError) as info:
        parse("exist: {token: a}\nmqtt:\n  port: 0\nmappings:\n  - {topic: a, attribute: B}\n")
    assert str(info.value).splitlines() == [
        "bridge.yaml:3: mqtt.port: must be from 1 to 65535, got 0",
        "bridge.yaml:5: mappings[0].attribute: expected an Exist attribute name (lowercase "
        "letters, digits, _), got 'B'",
    ]
    assert Problem("", None, "boom").format("f.yaml") == "f.yaml: boom"


# ----------------------------------------------------------------------------- YAML and files


def test_yaml_syntax_error_has_the_line():
    text = 'exist:\n  token: abc\nmappings:\n  - topic: "a\n    attribute: b\n'
    [(path, line, message)] = problems(text)
    # line 4: where the unclosed quote opened (the parser notices it at the end, line 6)
    assert path == "" and line == 4 and message.startswith("YAML syntax error")
    assert "a quote opened on line 4 is never closed" in message
    [(path, line, message)] = problems("exist:\n  token: abc\n   bad: indent\nmappings: []\n")
    assert line == 3 and "mapping values are not allowed here" in message


def test_empty_and_non_mapping_documents():
    assert problems("") == [("", 1, "the file is empty; it needs at least exist and mappings")]
    assert problems("- a\n") == [("", 1, "expected a mapping of sections (exist, ...)")]


def test_env_tag_present_and_missing():
    config = parse(MINIMAL.replace("abc", "!env EXIST_TOKEN"))
    assert config.exist.token.reveal() == "tok-0123456789"
    found = problems(
        MINIMAL.replace("abc", "!env EXIST_TOKEN") + "mqtt:\n  port: !env PORT\n", env={}
    )
    # one problem per unset variable (not also "expected an integer" for the port)
    assert found == [
        ("exist.token", 2, "environment variable EXIST_TOKEN is not set (from !env EXIST_TOKEN)"),
        ("mqtt.port", 7, "environment variable PORT is not set (from !env PORT)"),
    ]


def test_unknown_tag_suggests_env():
    # (!secret is known: secrets.yaml, tests/firsthour/test_home_assistant.py)
    [(_, line, message)] = problems(MINIMAL.replace("abc", "!vault exist_token"))
    assert line == 2 and "use !env VAR_NAME or a <field>_file key" in message


def test_secret_files_are_read_and_stripped(tmp_path):
    (tmp_path / "mqtt_password").write_text("  s3cret-file-pw\n")
    (tmp_path / "client_secret").write_text("cs\n")
    config = parse(
        """\
        exist:
          token: abc
          client_id: cid
          client_secret_file: client_secret
        mqtt:
          username: u
          password_file: mqtt_password
        mappings:
          - {topic: a, attribute: b}
        """,
        base_dir=tmp_path,
    )
    assert config.mqtt.password.reveal() == "s3cret-file-pw"
    assert config.exist.client_secret.reveal() == "cs"


def test_secret_file_problems(tmp_path):
    (tmp_path / "empty").write_text("\n")
    text = """\
    exist:
      token: abc
      client_id: cid
      client_secret: inline
      client_secret_file: empty
    mqtt:
      username: u
      password_file: missing
    mappings:
      - {topic: a, attribute: b}
    """
    assert problems(text, base_dir=tmp_path) == [
        ("exist.client_secret_file", 5, "give client_secret or client_secret_file, not both"),
        ("mqtt.password_file", 8, f"no file {tmp_path / 'missing'}"),
    ]
    text = textwrap.dedent(text).replace("  client_secret: inline\n", "")
    text = text.replace("password_file: missing", "password: p")
    assert problems(text, base_dir=tmp_path) == [
        ("exist.client_secret_file", 4, f"{tmp_path / 'empty'} is empty"),
    ]


def test_secrets_never_show():
    config = parse(
        MINIMAL.replace("abc", "!env EXIST_TOKEN")
        + "mqtt:\n  username: u\n  password: !env MQTT_PASSWORD\n"
    )
    shown = repr(config) + str(config) + repr(config.exist) + repr(config.mqtt)
    assert ENV["EXIST_TOKEN"] not in shown and ENV["MQTT_PASSWORD"] not in shown
    assert "Secret('***')" in repr(config.exist)
    secret = Secret("hunter2")
    assert repr(secret) == str(secret) == "Secret('***')" and f"{secret}" == "Secret('***')"
    assert (
        secret == Secret("hunter2") and secret != Secret("other") and secret.reveal() == "hunter2"
    )


@pytest.mark.parametrize(
    "text",
    [
        "exist:\n  token: [hunter2-inline]\nmappings: [{topic: a, attribute: b}]\n",
        "exist:\n  token: hunter2-inline\nmqtt:\n  password: {x: hunter2-inline}\n"
        "mappings: [{topic: a, attribute: b}]\n",
        'exist:\n  token: "hunter2-inline\nmappings: [{topic: a, attribute: b}]\n',
        "exist:\n  token: hunter2-inline\n    bad: x\nmappings: []\n",
        "exist:\n  token: hunter2-inline\n  tokne: hunter2-inline\nmappings: []\n",
    ],
)
def test_secrets_never_appear_in_errors(text):
    with pytest.raises(ConfigError) as info:
        parse(text)
    assert "hunter2" not in str(info.value) and "hunter2" not in repr(info.value.problems)


def test_load_config_resolves_paths_next_to_the_file(tmp_path):
    (tmp_path / "pw").write_text("pw\n")
    path = tmp_path / "bridge.yaml"
    path.write_text(
        "exist: {token_file: tokens.json, client_id: c, client_secret: s}\n"
        "mqtt: {username: u, password_file: pw}\n"
        "bridge: {state_dir: data}\n"
        "mappings: [{topic: a, attribute: b}]\n"
    )
    config = load_config(path)
    assert config.exist.token_file == tmp_path / "tokens.json"
    assert config.bridge.state_dir == tmp_path / "data"
    assert config.mqtt.password.reveal() == "pw"
    assert config.source == str(path)


def test_load_config_missing_file(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml")
    assert (
        str(info.value)
        == f"{tmp_path / 'nope.yaml'}: can't read the file: No such file or directory"
    )


# ----------------------------------------------------------------------------- schema description


def test_describe_schema_covers_every_key():
    rows = {row["key"]: row for row in describe_schema()}
    for key in (
        "exist.token",
        "exist.requests_per_hour",
        "mqtt.tls.insecure",
        "bridge.event_delay",
        "bridge.total_delay",
        "mappings[].max_delay",
        "attributes[].template",
        "attributes[].value_type",
        "mappings[].topic",
        "mappings[].edge.from",
        "mappings[].retained",
        "mappings[].scale",
        "mappings[].on_states",
    ):
        assert rows[key]["description"], key
    assert rows["mappings[].topic"]["required"] is True
    assert rows["exist.requests_per_hour"]["default"] == 280
    assert rows["mqtt.keepalive"]["type"] == "integer 5..3600"
    assert rows["mappings[].mode"]["default"] == "increment"
    assert rows["mappings"]["type"] == "list of mappings"
    assert rows["mappings[].mode"]["type"] == "increment | update | counter | duration"
    assert rows["mappings[].scale"]["default"] == 1
    assert rows["mappings[].on_states"]["type"] == "state or list of states"


# ----------------------------------------------------------------------------- robustness

_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
_values = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=8,
)


def _section(keys: list[str]) -> st.SearchStrategy:
    return st.dictionaries(st.sampled_from(keys), _values | _scalars, max_size=len(keys))


_mapping_keys = ["topic", "attribute", "mode", "json_path", "value_template", "condition"]
_mapping_keys += ["edge", "amount", "retained", "scale", "on_states"]
_documents = st.fixed_dictionaries(
    {},
    optional={
        "exist": _section(["token", "token_file", "client_id", "client_secret", "timezone"]),
        "mqtt": _section(["host", "port", "password", "tls", "qos", "topic_prefix"]),
        "bridge": _section(["state_dir", "flush_interval", "event_delay", "log_level"]),
        "attributes": st.lists(
            _section(["template", "name", "label", "group", "value_type"]) | _values, max_size=3
        ),
        "mappings": st.lists(_section(_mapping_keys) | _values, max_size=3) | _values,
    },
)


@settings(max_examples=150, deadline=None)
@given(document=_documents)
def test_any_document_gives_a_config_or_a_config_error(document):
    text = yaml.safe_dump(document)
    try:
        config = parse_config(text, "fuzz.yaml", env={})
    except ConfigError as err:
        assert err.problems and all(isinstance(p, Problem) for p in err.problems)
        assert all(line.startswith("fuzz.yaml") for line in str(err).split("\n"))
    else:
        assert isinstance(config, BridgeConfig) and config.mappings
