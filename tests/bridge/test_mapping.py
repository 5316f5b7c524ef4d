"""From a message to an Event, a skip or a Rejected: real device payloads, every rejection kind,
and a fuzz that evaluate never raises."""

from __future__ import annotations

import json
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mqtt_bridge.config import parse_config
from mqtt_bridge.mapping import Evaluation, Event, Mapping, build_mappings, route
from mqtt_bridge.templating import MAX_OUTPUT_CHARS

ATTRIBUTES = """\
attributes:
  - template: steps
  - template: weight
  - template: coffees
  - template: mood_note
  - {name: fridge_opens, label: Fridge opens, group: food, value_type: 0}
  - {name: water_ml, label: Water ml, group: food, value_type: 0}
  - {name: journal, label: Journal, group: custom, value_type: 2}
"""


def mappings(body: str, max_payload_bytes: int = 262_144, learned: bool = True) -> list[Mapping]:
    text = (
        "exist: {token: t}\n"
        f"bridge: {{max_payload_bytes: {max_payload_bytes}}}\n"
        + ATTRIBUTES
        + "mappings:\n"
        + textwrap.indent(textwrap.dedent(body), "  ")
    )
    return build_mappings(parse_config(text), LEARNED.get if learned else None)


# What Exist reports for these attributes (the client learns it from acquire/owned answers);
# the mapping uses it to refuse values Exist would refuse.
LEARNED = {"steps": 0, "coffees": 0, "weight": 1, "mood_note": 2}


def mapping(body: str, **kwargs) -> Mapping:
    [m] = mappings(body, **kwargs)
    return m


def feed(m: Mapping, topic: str, payloads: list[bytes], state: object = None) -> list[Evaluation]:
    """Evaluate a sequence of messages, keeping the edge state the way ingest does."""
    out = []
    for payload in payloads:
        ev = m.evaluate(topic, payload, False, state)
        if m.uses_state and ev.new_state is not None:
            state = ev.new_state
        out.append(ev)
    return out


def counted(evaluations: list[Evaluation]) -> list[int | float | str | None]:
    return [e.event.value if e.event else None for e in evaluations]


def rejected(ev: Evaluation) -> str | None:
    return ev.rejected.kind if ev.rejected else None


# ----------------------------------------------------------------------------- devices

DOOR = """\
- topic: zigbee2mqtt/fridge_door
  attribute: fridge_opens
  json_path: contact
  edge: {from: true, to: false}
"""


def z2m(contact: bool, battery: int = 97) -> bytes:
    return json.dumps(
        {"battery": battery, "contact": contact, "linkquality": 120, "voltage": 3000}
    ).encode()


def test_zigbee2mqtt_door_counts_each_opening_once():
    door = mapping(DOOR)
    assert door.uses_state
    results = feed(
        door,
        "zigbee2mqtt/fridge_door",
        [z2m(True), z2m(False), z2m(False), z2m(False, battery=96), z2m(True), z2m(False)],
    )
    assert counted(results) == [None, 1, None, None, None, 1]
    assert [r.skipped for r in results] == [
        "no previous state",
        None,
        "not an edge",
        "not an edge",
        "not an edge",
        None,
    ]
    assert results[1].event == Event("fridge_opens", "increment", 1)
    assert results[-1].new_state == {"last": False}
    json.dumps(results[-1].new_state)  # what ingest persists must be JSON


def test_first_message_only_seeds_state_even_when_it_is_the_target():
    door = mapping(DOOR)
    first = door.evaluate("zigbee2mqtt/fridge_door", z2m(False), False, None)
    assert first.event is None and first.skipped == "no previous state"
    assert first.new_state == {"last": False}


def test_retained_door_state_seeds_but_never_counts():
    door = mapping(DOOR)
    seeded = door.evaluate("zigbee2mqtt/fridge_door", z2m(False), True, {"last": True})
    assert seeded.event is None and seeded.skipped == "retained snapshot"
    assert seeded.new_state == {"last": False}
    # the next live "open" is not an edge (it was already open), a close then open counts
    assert counted(feed(door, "t", [z2m(False), z2m(True), z2m(False)], seeded.new_state)) == [
        None,
        None,
        1,
    ]


def test_tasmota_on_off_text_matches_boolean_edges():
    relay = mapping(
        """\
        - topic: stat/kettle/POWER
          attribute: coffees
          edge: {to: "ON"}
        """
    )
    results = feed(relay, "stat/kettle/POWER", [b"OFF", b"ON", b"ON", b"off", b"on", b"true"])
    assert counted(results) == [None, 1, None, None, 1, None]
    assert results[1].new_state == {"last": True}
    # an edge "to: true" matches a JSON boolean and the text "ON" alike, but never the number 1
    assert counted(feed(relay, "t", [b"0", b"1"])) == [None, None]


def test_malformed_previous_state_is_treated_as_none():
    door = mapping(DOOR)
    for junk in ("closed", [True], {"value": True}, 42):
        ev = door.evaluate("zigbee2mqtt/fridge_door", z2m(False), False, junk)
        assert (
            ev.event is None
            and ev.skipped == "no previous state"
            and ev.new_state == {"last": False}
        )


def test_button_action_with_condition():
    button = mapping(
        """\
        - topic: zigbee2mqtt/coffee_button
          attribute: coffees
          condition: "{{ value_json.action == 'single' }}"
        """
    )
    topic = "zigbee2mqtt/coffee_button"
    single = button.evaluate(topic, b'{"action": "single", "battery": 80}', False, None)
    assert single == Evaluation(Event("coffees", "increment", 1), None, None, None)
    double = button.evaluate(topic, b'{"action": "double"}', False, None)
    assert double.event is None and double.skipped == "condition false"
    battery = button.evaluate(topic, b'{"battery": 79}', False, None)  # no action key at all
    assert battery.event is None and battery.rejected is None
    assert battery.skipped == "condition undefined"
    assert rejected(button.evaluate(topic, b"single", False, None)) == "not_json"


def test_condition_truthiness():
    m = mapping(
        """\
        - topic: t
          attribute: coffees
          condition: "{{ value }}"
        """
    )
    for text in (b"true", b"TRUE", b"1", b"yes", b" on "):
        assert m.evaluate("t", text, False, None).event is not None, text
    for text in (b"false", b"0", b"no", b"off", b"", b"2", b"maybe"):
        assert m.evaluate("t", text, False, None).skipped == "condition false", text


def test_home_assistant_statestream_step_total():
    steps = mapping(
        """\
        - topic: homeassistant/sensor/phone_steps/state
          attribute: steps
          mode: update
        """
    )
    topic = "homeassistant/sensor/phone_steps/state"
    ev = steps.evaluate(topic, b"8123", False, None)
    assert ev.event == Event("steps", "update", 8123) and isinstance(ev.event.value, int)
    assert ev.new_state is None
    assert steps.evaluate(topic, b"8123.0", False, None).event.value == 8123.0
    # a retained value is a snapshot, ignored by default
    assert steps.evaluate(topic, b"8000", True, None).skipped == "retained snapshot"
    # Exist said steps holds numbers: text is bad input, not a string for Exist
    assert rejected(steps.evaluate(topic, b"lots", False, None)) == "not_a_number"
    # HA's "no reading" states never become a total
    assert rejected(steps.evaluate(topic, b"unavailable", False, None)) == "no_value"


def test_before_exist_reported_a_type_text_passes_but_no_reading_states_do_not():
    [steps] = mappings("- {topic: t, attribute: steps, mode: update}\n", learned=False)
    assert steps.evaluate("t", b"lots", False, None).event.value == "lots"  # Exist will judge
    assert rejected(steps.evaluate("t", b"unknown", False, None)) == "no_value"
    assert steps.evaluate("t", b"8123", False, None).event.value == 8123


def test_retained_apply_uses_the_snapshot_in_update_mode():
    steps = mapping(
        """\
        - topic: homeassistant/sensor/phone_steps/state
          attribute: steps
          mode: update
          retained: apply
        """
    )
    ev = steps.evaluate("homeassistant/sensor/phone_steps/state", b"8000", True, None)
    assert ev.event == Event("steps", "update", 8000)


def test_scale_json_weight():
    scale = mapping(
        """\
        - topic: scale/+/measurement
          attribute: weight
          mode: update
          json_path: readings[0].kg
        """
    )
    payload = b'{"readings": [{"kg": 72.4, "impedance": 480}, {"kg": 72.6}]}'
    assert scale.evaluate("scale/bathroom/measurement", payload, False, None).event == Event(
        "weight", "update", 72.4
    )
    assert rejected(scale.evaluate("s", b'{"readings": []}', False, None)) == "path_missing"
    assert rejected(scale.evaluate("s", b'{"readings": [{"kg": true}]}', False, None)) == (
        "not_a_number"
    )


def test_value_template_output_becomes_a_number():
    scale = mapping(
        """\
        - topic: scale
          attribute: weight
          mode: update
          value_template: "{{ (value_json.grams / 1000) | round(2) }}"
        """
    )
    ev = scale.evaluate("scale", b'{"grams": 72450}', False, None)
    assert ev.event == Event("weight", "update", 72.45)
    ev = scale.evaluate("scale", b'{"grams": 72000}', False, None)
    assert ev.event.value == 72.0


def test_update_strings_for_string_attributes():
    notes = mappings(
        """\
        - {topic: notes, attribute: journal, mode: update}
        - {topic: mood, attribute: mood_note, mode: update, json_path: note}
        - {topic: other, attribute: some_string, mode: update}
        """
    )
    assert notes[0].evaluate("notes", b" 42 ", False, None).event.value == "42"  # kept as text
    assert notes[1].evaluate("mood", b'{"note": "Good day"}', False, None).event.value == (
        "Good day"
    )
    # an attribute the config doesn't describe: numbers are numbers, other text is text
    assert notes[2].evaluate("other", b"hello", False, None).event.value == "hello"
    assert notes[2].evaluate("other", b"12", False, None).event.value == 12
    assert rejected(notes[2].evaluate("other", b"true", False, None)) is None  # text "true"
    assert rejected(notes[2].evaluate("other", b"  ", False, None)) == "no_value"


def test_amount_value_adds_the_extracted_number():
    water = mapping(
        """\
        - topic: bottle
          attribute: water_ml
          json_path: ml
          amount: value
        """
    )
    assert water.evaluate("bottle", b'{"ml": 250}', False, None).event == Event(
        "water_ml", "increment", 250
    )
    assert water.evaluate("bottle", b'{"ml": "330"}', False, None).event.value == 330
    assert water.evaluate("bottle", b'{"ml": 250.0}', False, None).event.value == 250
    assert rejected(water.evaluate("bottle", b'{"ml": 250.5}', False, None)) == "not_an_integer"
    assert rejected(water.evaluate("bottle", b'{"ml": true}', False, None)) == "not_a_number"
    assert rejected(water.evaluate("bottle", b'{"ml": null}', False, None)) == "not_a_number"
    assert rejected(water.evaluate("bottle", b'{"ml": NaN}', False, None)) == "not_finite"
    assert rejected(water.evaluate("bottle", b'{"ml": 1e999}', False, None)) == "not_finite"


def test_fixed_amount():
    m = mapping("- {topic: t, attribute: coffees, amount: 2}\n")
    assert m.evaluate("t", b"anything at all", False, None).event == Event(
        "coffees", "increment", 2
    )


# ----------------------------------------------------------------------------- rejections


@pytest.mark.parametrize(
    ("body", "payload", "kind"),
    [
        ("- {topic: t, attribute: coffees}\n", b"x" * 101, "too_large"),
        ("- {topic: t, attribute: coffees}\n", b"\xff\xfe\x00binary", "not_utf8"),
        ("- {topic: t, attribute: steps, mode: update, json_path: a}\n", b"{not json", "not_json"),
        (
            "- {topic: t, attribute: steps, mode: update, json_path: a.b}\n",
            b'{"a": 1}',
            "path_missing",
        ),
        (
            '- {topic: t, attribute: steps, mode: update, value_template: "{{ value_json.x }}"}\n',
            b'{"y": 1}',
            "template_error",
        ),
        (
            '- {topic: t, attribute: steps, mode: update, value_template: "{{ value | int }}"}\n',
            b"abc",
            "template_error",
        ),
        ("- {topic: t, attribute: steps, mode: update}\n", b"lots", "not_a_number"),
        ("- {topic: t, attribute: steps, mode: update}\n", b"NaN", "not_finite"),
        ("- {topic: t, attribute: steps, mode: update}\n", b"-Infinity", "not_finite"),
        (
            "- {topic: t, attribute: steps, mode: update, json_path: a}\n",
            b'{"a": Infinity}',
            "not_finite",
        ),
        (
            '- {topic: t, attribute: coffees, condition: "{{ value_json.a + 1 }}"}\n',
            b'{"a": "x"}',
            "condition_error",
        ),
        (
            "- {topic: t, attribute: steps, mode: update, json_path: a}\n",
            b'{"a": [1]}',
            "not_scalar",
        ),
        (
            "- {topic: t, attribute: steps, mode: update, json_path: a}\n",
            b'{"a": null}',
            "no_value",
        ),
        ("- {topic: t, attribute: steps, mode: update}\n", b"", "no_value"),
        (
            "- {topic: t, attribute: fridge_opens, json_path: a, edge: {to: 1}}\n",
            b'{"a": {"b": 1}}',
            "not_scalar",
        ),
    ],
)
def test_each_rejection_kind(body, payload, kind):
    m = mapping(body, max_payload_bytes=100 if kind == "too_large" else 262_144)
    ev = m.evaluate("t", payload, False, {"last": 0})
    assert ev.event is None and ev.skipped is None
    assert ev.rejected is not None and ev.rejected.kind == kind, ev.rejected
    assert len(ev.rejected.detail) <= 200


def test_deeply_nested_json_is_not_json():
    m = mapping("- {topic: t, attribute: steps, mode: update, json_path: a}\n")
    ev = m.evaluate("t", b"[" * 200_000, False, None)
    assert ev.rejected.kind == "not_json" and "nested too deeply" in ev.rejected.detail


def test_rejection_details_are_short_and_do_not_echo_payloads():
    m = mapping("- {topic: t, attribute: steps, mode: update}\n")
    ev = m.evaluate("t", b"x" * 5000, False, None)
    assert ev.rejected.kind == "not_a_number" and len(ev.rejected.detail) <= 200


def test_rejected_edge_message_keeps_the_previous_state():
    door = mapping(DOOR)
    ev = door.evaluate("zigbee2mqtt/fridge_door", b"garbage", False, {"last": True})
    assert ev.rejected.kind == "not_json" and ev.new_state == {"last": True}


def test_pathological_templates_are_contained():
    loud = mapping(
        """\
        - topic: t
          attribute: journal
          mode: update
          value_template: "{% for i in range(100000) %}{{ value }}{% endfor %}"
        """
    )
    ev = loud.evaluate("t", b"abcdefgh", False, None)
    assert ev.rejected.kind == "template_error" and str(MAX_OUTPUT_CHARS) in ev.rejected.detail
    power = mapping(
        "- topic: t\n  attribute: steps\n  mode: update\n"
        '  value_template: "{{ value | int ** 99999 }}"\n'
    )
    assert power.evaluate("t", b"9", False, None).rejected.kind == "template_error"
    repeat = mapping(
        '- {topic: t, attribute: journal, mode: update, value_template: "{{ value * 10**6 }}"}\n'
    )
    assert repeat.evaluate("t", b"ab", False, None).rejected.kind == "template_error"


def test_templates_are_sandboxed():
    m = mapping(
        "- topic: t\n  attribute: journal\n  mode: update\n"
        '  value_template: "{{ value.__class__.__mro__ }}"\n'
    )
    assert m.evaluate("t", b"x", False, None).rejected.kind == "template_error"


def test_templates_see_topic():
    m = mapping(
        "- topic: rooms/+/steps\n  attribute: journal\n  mode: update\n"
        "  value_template: \"{{ topic.split('/')[1] }}: {{ value }}\"\n"
    )
    assert m.evaluate("rooms/kitchen/steps", b"12", False, None).event.value == "kitchen: 12"


# ----------------------------------------------------------------------------- routing


def test_route_matches_every_mapping_with_mqtt_wildcards():
    ms = mappings(
        """\
        - {topic: zigbee2mqtt/fridge_door, attribute: fridge_opens}
        - {topic: zigbee2mqtt/+, attribute: coffees}
        - {topic: "#", attribute: steps, mode: update}
        - {topic: zigbee2mqtt/+/set, attribute: water_ml}
        """
    )
    assert [m.index for m in route(ms, "zigbee2mqtt/fridge_door")] == [0, 1, 2]
    assert [m.index for m in route(ms, "zigbee2mqtt/lamp/set")] == [2, 3]
    assert [m.index for m in route(ms, "$SYS/broker/uptime")] == []  # # never matches $ topics
    assert route(ms, "a/" * 10_000) == [ms[2]]


# ----------------------------------------------------------------------------- never raises

FUZZ_MAPPINGS = mappings(
    """\
    - {topic: "#", attribute: fridge_opens, json_path: contact, edge: {from: true, to: false}}
    - {topic: "#", attribute: coffees, edge: {to: "ON"}}
    - {topic: "#", attribute: coffees, condition: "{{ value_json.action == 'single' }}"}
    - {topic: "#", attribute: steps, mode: update, retained: apply}
    - {topic: "#", attribute: weight, mode: update, json_path: "readings[0].kg"}
    - {topic: "#", attribute: water_ml, json_path: ml, amount: value}
    - {topic: "#", attribute: journal, mode: update}
    - {topic: "#", attribute: some_total, mode: update, value_template: "{{ value_json.a.b }}"}
    - {topic: "#", attribute: other_count, condition: "{{ value | float > 3 }}", amount: 0.5}
    """,
    max_payload_bytes=4096,
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["contact", "action", "ml", "readings", "kg", "a", "b"]) | st.text(),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)
payloads = (
    st.binary(max_size=300)
    | st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass"))
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.integers(min_value=-(10**60), max_value=10**60).map(lambda n: str(n).encode())
    | st.sampled_from([b"[" * 3000, b"{" * 3000, b"9" * 4100, b"1e999", b"-0", b"\xef\xbb\xbf42"])
)
states = st.none() | json_values | json_values.map(lambda v: {"last": v})


def check_invariants(m: Mapping, ev: Evaluation) -> None:
    assert isinstance(ev, Evaluation)
    assert (ev.event is not None) + (ev.rejected is not None) + (ev.skipped is not None) == 1
    if ev.rejected is not None:
        assert ev.rejected.kind != "internal_error", ev.rejected
        assert len(ev.rejected.detail) <= 200
    if ev.event is not None:
        assert ev.event.attribute == m.attribute and ev.event.mode == m.mode
        value = ev.event.value
        assert not isinstance(value, bool) and isinstance(value, (int, float, str))
        json.dumps(value, allow_nan=False)
    if not m.uses_state:
        assert ev.new_state is None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=payloads, retained=st.booleans(), state=states)
def test_evaluate_never_raises(payload, retained, state):
    for m in FUZZ_MAPPINGS:
        ev = m.evaluate("zigbee2mqtt/device", payload, retained, state)
        check_invariants(m, ev)
        if m.uses_state and ev.rejected is None:
            json.dumps(ev.new_state, allow_nan=False)  # persisted by ingest


@settings(max_examples=200, deadline=None)
@given(topic=st.text(max_size=100))
def test_matching_never_raises(topic):
    for m in FUZZ_MAPPINGS + mappings("- {topic: a/+/c, attribute: x}\n"):
        assert isinstance(m.matches(topic), bool)


def test_ignored_retained_snapshots_are_not_judged():
    m = mapping("- {topic: t, attribute: coffees}\n", max_payload_bytes=10)
    assert m.evaluate("t", b"\xff" * 100, True, None).skipped == "retained snapshot"
    assert m.evaluate("t", b"\xff" * 100, False, None).rejected.kind == "too_large"
