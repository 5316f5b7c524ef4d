"""From a message to an Event, a skip or a Rejected: real device payloads, every rejection kind,
and a fuzz that evaluate never raises."""

from __future__ import annotations

import dataclasses
import json
import textwrap
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paho.mqtt.client import topic_matches_sub

from mqtt_bridge.config import parse_config
from mqtt_bridge.expressions import MAX_OUTPUT_CHARS
from mqtt_bridge.pipeline.process.mapping import Evaluation, Event, Mapping, build_mappings
from mqtt_bridge.pipeline.process.routing import route

ATTRIBUTES = """\
attributes:
  - template: steps
  - template: weight
  - template: coffees
  - template: mood_note
  - {name: fridge_opens, label: Fridge opens, group: food, value_type: 0}
  - {name: water_ml, label: Water ml, group: food, value_type: 0}
  - {name: journal, label: Journal, group: custom, value_type: 2}
  - {name: energy_kwh, label: Energy kwh, group: custom, value_type: 1}
  - {name: energy_wh, label: Energy wh, group: custom, value_type: 0}
  - {name: office_minutes, label: Office minutes, group: custom, value_type: 3}
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
    # HA's "no reading" states never become a total: a sensor without a reading, skipped
    unavailable = steps.evaluate(topic, b"unavailable", False, None)
    assert unavailable.event is None and rejected(unavailable) is None
    assert unavailable.skipped == "unavailable ('unavailable': no reading)"


def test_before_exist_reported_a_type_text_passes_but_no_reading_states_do_not():
    [steps] = mappings("- {topic: t, attribute: steps, mode: update}\n", learned=False)
    assert steps.evaluate("t", b"lots", False, None).event.value == "lots"  # Exist will judge
    assert (
        steps.evaluate("t", b"unknown", False, None).skipped
        == "unavailable ('unknown': no reading)"
    )
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


# ----------------------------------------------------------------------------- counter mode

TASMOTA = """\
- topic: tele/+/SENSOR
  attribute: energy_kwh
  mode: counter
  json_path: ENERGY.Total
"""


def tasmota(total: float, power: int = 40) -> bytes:
    """A Tasmota plug's teleperiod message (tele/<device>/SENSOR)."""
    return json.dumps(
        {
            "Time": "2024-05-01T10:00:00",
            "ENERGY": {
                "TotalStartTime": "2023-11-02T18:12:44",
                "Total": total,
                "Yesterday": 0.512,
                "Today": 0.123,
                "Power": power,
                "ApparentPower": 52,
                "ReactivePower": 33,
                "Factor": 0.77,
                "Voltage": 233,
                "Current": 0.223,
            },
        }
    ).encode()


def test_counter_first_reading_is_a_baseline_then_increases_count():
    plug = mapping(TASMOTA)
    assert plug.uses_state and plug.effect_mode == "increment"
    results = feed(plug, "tele/plug/SENSOR", [tasmota(t) for t in (123.4, 123.456, 123.5, 124)])
    assert counted(results) == [None, 0.056, 0.044, 0.5]  # rounded: no 0.05599999999999739
    assert results[0].skipped == "baseline (first reading)"
    assert results[1].event == Event("energy_kwh", "increment", 0.056)
    assert results[-1].new_state == {"reading": 124.0, "carry": 0.0}
    assert json.loads(json.dumps(results[-1].new_state)) == results[-1].new_state


def test_counter_equal_reading_adds_nothing_and_readings_are_per_topic():
    plug = mapping(TASMOTA)
    a = feed(plug, "tele/a/SENSOR", [tasmota(10), tasmota(10), tasmota(12.25)])
    assert counted(a) == [None, None, 2.25]
    assert a[1].skipped == "no increase"
    b = plug.evaluate("tele/b/SENSOR", tasmota(500), False, None)  # another plug: own baseline
    assert b.event is None and b.new_state == {"reading": 500.0, "carry": 0.0}


def test_counter_reset_counts_the_new_reading_from_zero():
    plug = mapping(TASMOTA)
    # rebooted (or replaced) after 201.5: the meter starts again near zero
    results = feed(plug, "tele/plug/SENSOR", [tasmota(t) for t in (200, 201.5, 0.3, 0.5)])
    assert counted(results) == [None, 1.5, 0.3, 0.2]
    negative = plug.evaluate("t", b'{"ENERGY": {"Total": -4}}', False, {"reading": 5.0})
    assert negative.event is None and negative.new_state["reading"] == -4.0


def test_counter_scale_turns_watt_hours_into_kilowatt_hours():
    shelly = mapping(
        """\
        - topic: shellies/+/emeter/0/total
          attribute: energy_kwh
          mode: counter
          scale: 0.001
        """
    )
    topic = "shellies/shellyem-B9A4F2/emeter/0/total"
    results = feed(shelly, topic, [b"51234.5", b"51468.9", b"51700", b"120.1"])
    assert counted(results) == [None, 0.2344, 0.2311, 0.1201]


def test_counter_on_an_integer_attribute_carries_fractions():
    wh = mapping(
        """\
        - {topic: plug/energy, attribute: energy_wh, mode: counter, scale: 0.1}
        """
    )
    readings = [b"0", b"3", b"6", b"10", b"10.5", b"27"]
    results = feed(wh, "plug/energy", readings)
    assert counted(results) == [None, None, None, 1, None, 1]
    assert results[1].skipped == "no whole increase yet (fraction carried)"
    assert [r.new_state["carry"] for r in results] == [0, 0.3, 0.6, 0, 0.05, 0.7]
    assert all(isinstance(v, int) for v in counted(results) if v is not None)
    # whatever the readings, the whole part of the scaled increase is never lost
    assert sum(v for v in counted(results) if v) == int(27 * 0.1)


def test_counter_retained_readings_count_only_an_increase():
    plug = mapping(TASMOTA)
    topic = "tele/plug/SENSOR"
    seeded = plug.evaluate(topic, tasmota(50), True, None)
    assert seeded.event is None and seeded.new_state == {"reading": 50.0, "carry": 0.0}
    # after a restart the broker hands over its retained reading: still a correct delta
    later = plug.evaluate(topic, tasmota(52.5), True, seeded.new_state)
    assert later.event.value == 2.5
    # an older retained snapshot is never a reset: ignored, the stored reading kept
    stale = plug.evaluate(topic, tasmota(51), True, later.new_state)
    assert stale.event is None and stale.skipped == "retained reading below the last"
    assert stale.new_state == later.new_state
    assert plug.evaluate(topic, tasmota(53), False, stale.new_state).event.value == 0.5


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        (b'{"ENERGY": {"Total": "abc"}}', "not_a_number"),
        (b'{"ENERGY": {"Total": true}}', "not_a_number"),
        (b'{"ENERGY": {"Total": null}}', "no_value"),
        (b'{"ENERGY": {"Total": "nan"}}', "not_finite"),
        (b'{"ENERGY": {"Total": 1e999}}', "not_finite"),
        (b'{"ENERGY": {"Total": ' + b"9" * 400 + b"}}", "not_finite"),
        (b'{"ENERGY": {"Total": [1]}}', "not_scalar"),
        (b'{"ENERGY": {"Power": 40}}', "path_missing"),
        (b'{"ENERGY": {"Total": 1', "not_json"),
        (b"123.4", "path_missing"),
    ],
)
def test_counter_bad_readings_are_rejected_and_keep_the_state(payload, kind):
    plug = mapping(TASMOTA)
    state = {"reading": 100.0, "carry": 0.0}
    ev = plug.evaluate("tele/plug/SENSOR", payload, False, state)
    assert rejected(ev) == kind
    assert ev.new_state is state
    assert plug.evaluate("tele/plug/SENSOR", tasmota(101), False, ev.new_state).event.value == 1


def test_counter_unavailable_is_skipped_and_keeps_the_state():
    plug = mapping(TASMOTA)
    state = {"reading": 100.0, "carry": 0.0}
    ev = plug.evaluate("tele/plug/SENSOR", b'{"ENERGY": {"Total": "unavailable"}}', False, state)
    assert rejected(ev) is None and ev.event is None
    assert ev.skipped == "unavailable ('unavailable': no reading)"
    assert ev.new_state is None  # nothing to store: the processor keeps the state it has


def test_counter_text_payloads_and_templates():
    ha = mapping(
        """\
        - topic: homeassistant/sensor/+/state
          attribute: energy_kwh
          mode: counter
          value_template: "{{ value | float / 1000 }}"
        """
    )
    results = feed(ha, "homeassistant/sensor/meter/state", [b"1000", b"unavailable", b"2500"])
    assert counted(results) == [None, None, 1.5]
    assert rejected(results[1]) == "template_error"  # float() refuses it (no default given)
    plain = mapping("- {topic: meter, attribute: energy_kwh, mode: counter}\n")
    results = feed(plain, "meter", [b"17.5", b"unknown", b" 18.25 ", b"unavailable", b"19"])
    assert counted(results) == [None, None, 0.75, None, 0.75]
    assert [rejected(r) for r in results] == [None] * 5
    assert [bool(r.skipped and r.skipped.startswith("unavailable")) for r in results] == [
        False,
        True,
        False,
        True,
        False,
    ]


@pytest.mark.parametrize(
    "state",
    [None, {"last": 5}, {"reading": True}, {"reading": "5"}, {"reading": 10**400}, [1], 7],
)
def test_counter_unusable_stored_state_means_a_new_baseline(state):
    plug = mapping(TASMOTA)
    ev = plug.evaluate("tele/plug/SENSOR", tasmota(9), False, state)
    assert ev.event is None and ev.skipped == "baseline (first reading)"
    assert ev.new_state == {"reading": 9.0, "carry": 0.0}


# ----------------------------------------------------------------------------- duration mode

OCCUPANCY = """\
- topic: zigbee2mqtt/+/occupancy_sensor
  attribute: office_minutes
  mode: duration
  json_path: occupancy
"""
BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2024, 5, 6, 9, 0, tzinfo=BERLIN).timestamp()


def occupancy(on: bool) -> bytes:
    """A zigbee2mqtt occupancy sensor (e.g. Aqara RTCGQ11LM)."""
    return json.dumps(
        {"battery": 100, "illuminance": 21, "linkquality": 84, "occupancy": on, "voltage": 3005}
    ).encode()


def timeline(
    m: Mapping, steps: list[tuple[float, bytes]], state: object = None, zone=BERLIN, retained=False
) -> tuple[list[Evaluation], object]:
    """Evaluate messages received at the given times, keeping state like ingest does."""
    out = []
    for at, payload in steps:
        ev = m.evaluate("t", payload, retained, state, received_at=at, zone=zone)
        state = ev.new_state
        out.append(ev)
    return out, state


def minutes_by_day(evaluations: list[Evaluation], zone=BERLIN) -> dict[str, int]:
    days: dict[str, int] = {}
    for e in evaluations:
        for event in e.events:
            assert event.mode == "increment" and isinstance(event.value, int)
            day = datetime.fromtimestamp(event.at, zone).date().isoformat()
            days[day] = days.get(day, 0) + event.value
    return days


def test_duration_counts_whole_minutes_and_carries_the_seconds():
    room = mapping(OCCUPANCY)
    steps = []
    for visit in range(10):  # ten visits of 90 s, an hour apart
        steps += [(T0 + visit * 3600, occupancy(True)), (T0 + visit * 3600 + 90, occupancy(False))]
    results, state = timeline(room, steps)
    assert [e.event.value if e.event else None for e in results] == [None, 1, None, 2] * 5
    assert minutes_by_day(results) == {"2024-05-06": 15}  # not 10 (floored), not 20 (rounded)
    assert state == {"on": False, "since": None, "carry": 0.0}
    assert results[0].skipped == "on: clock started"


def test_duration_repeated_on_does_not_restart_the_clock():
    room = mapping(OCCUPANCY)
    results, state = timeline(
        room,
        [
            (T0, occupancy(True)),
            (T0 + 100, occupancy(True)),  # still occupied: the minutes so far are added
            (T0 + 110, occupancy(True)),
            (T0 + 200, occupancy(False)),
        ],
    )
    assert [e.event.value if e.event else None for e in results] == [None, 1, None, 2]
    assert results[1].new_state == {"on": True, "since": T0 + 100, "carry": 40.0}
    assert results[2].skipped == "under a minute (seconds carried)"
    assert results[2].new_state == {"on": True, "since": T0 + 110, "carry": 50.0}
    assert state == {"on": False, "since": None, "carry": 20.0}  # 200 s = 3 minutes 20 s


def test_duration_off_without_on_and_repeated_off_add_nothing():
    room = mapping(OCCUPANCY)
    results, state = timeline(
        room, [(T0, occupancy(False)), (T0 + 600, occupancy(False)), (T0 + 900, occupancy(False))]
    )
    assert [e.events for e in results] == [(), (), ()]
    assert {e.skipped for e in results} == {"off without on"}
    assert state == {"on": False, "since": None, "carry": 0.0}


def test_duration_split_at_local_midnight():
    room = mapping(OCCUPANCY)
    on = datetime(2024, 5, 6, 23, 50, 30, tzinfo=BERLIN).timestamp()
    off = datetime(2024, 5, 7, 0, 20, tzinfo=BERLIN).timestamp()
    results, state = timeline(room, [(on, occupancy(True)), (off, occupancy(False))])
    assert [e.value for e in results[1].events] == [9, 20]  # 9 min 30 s, then 20 min + 30 s
    assert minutes_by_day(results) == {"2024-05-06": 9, "2024-05-07": 20}
    assert state["carry"] == 30.0
    # several days on, in another zone
    tokyo = ZoneInfo("Asia/Tokyo")
    on = datetime(2024, 5, 6, 22, 0, tzinfo=tokyo).timestamp()
    off = datetime(2024, 5, 8, 1, 0, tzinfo=tokyo).timestamp()
    results, _ = timeline(room, [(on, occupancy(True)), (off, occupancy(False))], zone=tokyo)
    assert minutes_by_day(results, tokyo) == {
        "2024-05-06": 120,
        "2024-05-07": 1440,
        "2024-05-08": 60,
    }


def test_duration_on_a_daylight_saving_day():
    room = mapping(OCCUPANCY)
    on = datetime(2024, 3, 30, 23, 0, tzinfo=BERLIN).timestamp()
    off = datetime(2024, 4, 1, 0, 30, tzinfo=BERLIN).timestamp()
    results, _ = timeline(room, [(on, occupancy(True)), (off, occupancy(False))])
    # 31 March 2024 had 23 hours in Berlin
    assert minutes_by_day(results) == {"2024-03-30": 60, "2024-03-31": 23 * 60, "2024-04-01": 30}


def test_duration_default_and_custom_on_states():
    room = mapping(OCCUPANCY)
    for payload in (b'{"occupancy": "ON"}', b'{"occupancy": 1}', b'{"occupancy": "Occupied"}'):
        started = room.evaluate("t", payload, False, None, received_at=T0)
        assert started.new_state == {"on": True, "since": T0, "carry": 0.0}, payload
    for payload in (b'{"occupancy": "unavailable"}', b'{"occupancy": 0}', b'{"occupancy": "x"}'):
        ended = room.evaluate("t", payload, False, {"on": True, "since": T0}, received_at=T0 + 60)
        assert ended.event.value == 1 and ended.new_state["on"] is False, payload
    tv = mapping(
        """\
        - topic: homeassistant/media_player/tv/state
          attribute: office_minutes
          mode: duration
          on_states: [playing, paused]
        """
    )
    results, _ = timeline(
        tv, [(T0, b"playing"), (T0 + 60, b"Paused"), (T0 + 180, b"idle"), (T0 + 240, b"on")]
    )
    assert [e.event.value if e.event else None for e in results] == [None, 1, 2, None]
    assert results[3].new_state["on"] is False  # "on" is not one of this mapping's on states


def test_duration_retained_messages_never_add_time():
    room = mapping(OCCUPANCY)
    started = room.evaluate("t", occupancy(True), True, None, received_at=T0)
    assert started.event is None and started.new_state["since"] == T0  # on now: count from here
    again = room.evaluate("t", occupancy(True), True, started.new_state, received_at=T0 + 600)
    assert again.event is None and again.new_state == started.new_state
    dropped = room.evaluate("t", occupancy(False), True, again.new_state, received_at=T0 + 900)
    assert dropped.event is None and dropped.skipped == "retained off: period dropped"
    assert dropped.new_state == {"on": False, "since": None, "carry": 0.0}


def test_duration_receive_clock_going_backwards_adds_nothing():
    room = mapping(OCCUPANCY)
    ev = room.evaluate("t", occupancy(False), False, {"on": True, "since": T0}, received_at=T0 - 5)
    assert ev.events == () and ev.new_state == {"on": False, "since": None, "carry": 0.0}
    ancient = {"on": True, "since": T0 - 500 * 86400, "carry": 0}
    ev = room.evaluate("t", occupancy(False), False, ancient, received_at=T0)
    assert ev.events == () and ev.skipped == "on for too long: period dropped"


def test_duration_bad_values_keep_the_state_and_state_survives_json():
    room = mapping(OCCUPANCY)
    results, state = timeline(room, [(T0, occupancy(True)), (T0 + 30, occupancy(True))])
    restored = json.loads(json.dumps(state))  # what the outbox stores and reads back
    bad = room.evaluate("t", b'{"occupancy": {"a": 1}}', False, restored, received_at=T0 + 40)
    assert rejected(bad) == "not_scalar" and bad.new_state is restored
    assert rejected(room.evaluate("t", b"{", False, restored, received_at=T0 + 40)) == "not_json"
    end = room.evaluate("t", occupancy(False), False, restored, received_at=T0 + 150)
    assert end.event.value == 2 and end.new_state["carry"] == 30.0


def test_duration_without_a_receive_time_uses_now_in_utc():
    room = mapping(OCCUPANCY)
    before = time.time()
    ev = room.evaluate("t", occupancy(True), False, None)
    assert before <= ev.new_state["since"] <= time.time()


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
    - {topic: "#", attribute: energy_kwh, mode: counter, json_path: ENERGY.Total}
    - {topic: "#", attribute: energy_wh, mode: counter, scale: 0.001}
    - {topic: "#", attribute: office_minutes, mode: duration, json_path: occupancy}
    - {topic: "#", attribute: office_minutes, mode: duration, on_states: [x, 2]}
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
            st.sampled_from(["contact", "action", "ml", "readings", "kg", "a", "b", "ENERGY"])
            | st.sampled_from(["Total", "occupancy"])
            | st.text(),
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
_numbers = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5)
states = (
    st.none()
    | json_values
    | json_values.map(lambda v: {"last": v})
    | st.fixed_dictionaries({"reading": _numbers, "carry": _numbers})
    | st.fixed_dictionaries({"on": _numbers, "since": _numbers, "carry": _numbers})
)


def check_invariants(m: Mapping, ev: Evaluation) -> None:
    assert isinstance(ev, Evaluation)
    assert (ev.event is not None) + (ev.rejected is not None) + (ev.skipped is not None) == 1
    if ev.rejected is not None:
        assert ev.rejected.kind != "internal_error", ev.rejected
        assert len(ev.rejected.detail) <= 200
    if ev.event is not None:
        for event in ev.events:
            assert event.attribute == m.attribute and event.mode == m.effect_mode
            value = event.value
            assert not isinstance(value, bool) and isinstance(value, (int, float, str))
            json.dumps(value, allow_nan=False)
            if m.mode in ("counter", "duration"):
                assert value > 0
    if not m.uses_state:
        assert ev.new_state is None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=payloads, retained=st.booleans(), state=states)
def test_evaluate_never_raises(payload, retained, state):
    for m in FUZZ_MAPPINGS:
        ev = m.evaluate("zigbee2mqtt/device", payload, retained, state, received_at=1.7e9)
        check_invariants(m, ev)
        if m.uses_state and ev.rejected is None:
            json.dumps(ev.new_state, allow_nan=False)  # persisted by ingest


# Topic levels that exercise MQTT's matching corners: empty levels, ``$`` topics at the first
# level (``$SYS``), names that look alike, and arbitrary text (no separator, wildcard or NUL).
_plain_levels = st.one_of(
    st.sampled_from(["", "a", "b", "$SYS", "$a", "sensor", "a b", "é"]),
    st.text(
        st.characters(blacklist_characters="/+#\x00", blacklist_categories=("Cs", "Cc")), max_size=4
    ),
)
mqtt_topics = st.lists(_plain_levels, min_size=1, max_size=5).map("/".join).filter(bool)
mqtt_filters = st.builds(
    lambda levels, hash_: "/".join(levels + (["#"] if hash_ else [])),
    st.lists(st.one_of(_plain_levels, st.just("+")), min_size=0, max_size=5),
    st.booleans(),
).filter(bool)


PLAIN = mapping("- {topic: t, attribute: coffees}\n")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(topic_filter=mqtt_filters, topics=st.lists(mqtt_topics, min_size=1, max_size=8))
def test_matching_agrees_with_paho(topic_filter, topics):
    """A differential test: the bridge's own matcher against paho's ``topic_matches_sub``."""
    m = Mapping(0, dataclasses.replace(PLAIN.spec, topic=topic_filter))  # no YAML round per case
    for topic in topics + [topic_filter.replace("+", "x").replace("#", "y")]:
        assert m.matches(topic) == topic_matches_sub(topic_filter, topic), (topic_filter, topic)


@pytest.mark.parametrize(
    ("topic_filter", "topic", "expected"),
    [
        ("a/#", "a", True),
        ("#", "$SYS/x", False),
        ("+/x", "$SYS/x", False),
        ("$SYS/#", "$SYS/x", True),
        ("a/+", "a/", True),
        ("+/+", "/", True),
        ("a//b", "a//b", True),
        ("a/+/b", "a//b", True),
        ("a/b", "a/b/", False),
    ],
)
def test_matching_corner_cases(topic_filter, topic, expected):
    assert topic_matches_sub(topic_filter, topic) is expected  # the reference agrees
    m = mapping(f"- {{topic: {json.dumps(topic_filter)}, attribute: coffees}}\n")  # as configured
    assert m.matches(topic) is expected


def test_ignored_retained_snapshots_are_not_judged():
    m = mapping("- {topic: t, attribute: coffees}\n", max_payload_bytes=10)
    assert m.evaluate("t", b"\xff" * 100, True, None).skipped == "retained snapshot"
    assert m.evaluate("t", b"\xff" * 100, False, None).rejected.kind == "too_large"


def test_counter_retained_lower_reading_keeps_a_clean_state():
    plug = mapping(TASMOTA)
    ev = plug.evaluate("t", tasmota(0.5), True, {"reading": 1.0, "carry": float("inf")})
    assert ev.skipped == "retained reading below the last"
    assert ev.new_state == {"reading": 1.0, "carry": 0.0}
    json.dumps(ev.new_state, allow_nan=False)
