"""The device recipes in examples/recipes/, end to end.

Each recipe is a complete configuration a user copies. Here every recipe must pass
``exist-bridge check``, and then runs for real: its ``attributes`` and ``mappings`` sections are
kept verbatim, its ``exist``/``mqtt``/``bridge`` sections are replaced by ones pointing at a real
mosquitto and the mock Exist (one of each for the whole module), and the bridge runs in-process.
The test publishes payloads shaped like the devices' own (zigbee2mqtt, Tasmota, Shelly, Home
Assistant's mqtt_statestream, xiaomi_mi_scale) and checks the exact values that land in the mock.

The bridge's receive clock is a fake one, so each message lands at a known local time (the date
of a count, the minutes of a duration) whatever the time of day the tests run.
"""

from __future__ import annotations

import dataclasses
import io
import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mock_exist.server import MockServer
from mqtt_bridge import cli
from mqtt_bridge.config import BridgeConfig, parse_config
from mqtt_bridge.service import Bridge

from ..support.bridge import start_bridge
from ..support.mosquitto import Mosquitto
from ..support.mqtt import Publisher
from ..support.waiting import wait_until

pytestmark = pytest.mark.slow  # mosquitto, subprocesses or seconds of work: see pyproject

RECIPES = Path(__file__).resolve().parents[2] / "examples" / "recipes"
NAMES = sorted(p.stem for p in RECIPES.glob("*.yaml"))
TZ = "Europe/London"
ZONE = ZoneInfo(TZ)
DAY = "2024-05-06"


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> float:
    """Epoch seconds of a local time in May 2024 (London)."""
    return datetime(2024, 5, day, hour, minute, second, tzinfo=ZONE).timestamp()


def recipe_text(name: str) -> str:
    return (RECIPES / f"{name}.yaml").read_text(encoding="utf-8")


def without_lines(config: BridgeConfig) -> tuple[list, list]:
    return (
        [dataclasses.replace(a, line=None) for a in config.attributes],
        [dataclasses.replace(m, line=None) for m in config.mappings],
    )


# ----------------------------------------------------------------------------- every recipe


def test_there_are_recipes_and_each_has_a_scenario():
    assert len(NAMES) >= 7
    assert set(NAMES) == set(SCENARIOS), "every recipe needs an end-to-end test below"


@pytest.mark.parametrize("name", NAMES)
def test_recipe_passes_exist_bridge_check_without_warnings(name, monkeypatch):
    monkeypatch.setenv("EXIST_TOKEN", "a-personal-token")
    out, err = io.StringIO(), io.StringIO()
    code = cli.run(["check", "-c", str(RECIPES / f"{name}.yaml")], out, err)
    assert code == 0, err.getvalue()
    assert "OK" in out.getvalue() and "warning" not in out.getvalue()


@pytest.mark.parametrize("name", NAMES)
def test_recipe_layout_is_sections_then_attributes_and_mappings(name):
    text = recipe_text(name)
    sections = re.findall(r"^([a-z_]+):", text, re.M)
    assert sections == ["exist", "mqtt", "bridge", "attributes", "mappings"]
    assert "token: !env EXIST_TOKEN" in text  # no secret written in a recipe
    assert text.startswith("# Recipe: ")
    # the comments show the device's payloads
    assert re.search(r"^#\s+[{\d]|^#\s+on$", text, re.M), "show a sample payload"


# ----------------------------------------------------------------------------- the harness


class FakeClock:
    """The bridge's receive clock: the test sets the local time of the next message."""

    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


class Infra:
    def __init__(self, broker: Mosquitto, mock: MockServer, publisher: Publisher, root: Path):
        self.broker = broker
        self.mock = mock
        self.publisher = publisher
        self.root = root


class RecipeBridge:
    """One recipe running: the recipe's attributes and mappings, the test's broker and mock."""

    def __init__(self, name: str, infra: Infra, start: float):
        header = (
            "exist:\n"
            f"  base_url: {infra.mock.url}\n"
            "  token: !env EXIST_TOKEN\n"
            f"  timezone: {TZ}\n"
            "mqtt:\n"
            "  host: 127.0.0.1\n"
            f"  port: {infra.broker.port}\n"
            f"  client_id: recipe-{name}\n"
            "bridge:\n"
            f"  state_dir: {infra.root / name}\n"
            "  flush_interval: 3600\n"
        )
        original = recipe_text(name)
        body = original[re.search(r"^attributes:", original, re.M).start() :]
        env = {"EXIST_TOKEN": infra.mock.token}
        self.config = parse_config(header + body, f"{name}.yaml", env=env)
        # the recipe's own attributes and mappings, verbatim
        assert without_lines(self.config) == without_lines(parse_config(original, env=env))
        self.infra = infra
        self.mock = infra.mock
        self.clock = FakeClock(start)
        self.bridge: Bridge | None = None
        self.start()

    def start(self) -> None:
        self.bridge = start_bridge(self.config, clock=self.clock)

    def restart(self) -> None:
        self.bridge.stop()
        self.start()

    def counter(self, name: str) -> int:
        return self.bridge.outbox.counters().get(name, 0)

    def taken_in(self) -> int:
        return self.counter("messages")

    def send(self, topic: str, payload, when: float | None = None, retain: bool = False) -> None:
        """Publish one message received at local time ``when``; wait until it is committed."""
        if when is not None:
            self.clock.now = when
        before = self.taken_in()
        self.infra.publisher.publish(topic, payload, retain=retain)
        wait_until(lambda: self.taken_in() > before)

    def flush(self) -> None:
        report = self.bridge.flusher.flush_once()
        assert report.left_pending == 0, report

    def value(self, attribute: str, day: str = DAY) -> object:
        return self.mock.state.value(attribute, day)

    def close(self) -> None:
        self.bridge.stop()


@pytest.fixture(scope="module")
def infra(tmp_path_factory):
    root = tmp_path_factory.mktemp("recipes")
    broker = Mosquitto(root / "mosquitto").start()
    mock = MockServer({}).start()
    publisher = Publisher(broker.port, client_id="recipe-publisher", separators=(",", ":"))
    try:
        yield Infra(broker, mock, publisher, root)
    finally:
        publisher.close()
        mock.stop()
        broker.kill()


@pytest.fixture
def run_recipe(infra):
    running: list[RecipeBridge] = []

    def start(name: str, when: float = at(6, 12)) -> RecipeBridge:
        recipe = RecipeBridge(name, infra, when)
        running.append(recipe)
        return recipe

    yield start
    for recipe in running:
        recipe.close()


# ----------------------------------------------------------------------------- the recipes


def z2m_contact(contact: bool, battery: int = 100) -> dict:
    return {"battery": battery, "contact": contact, "linkquality": 120, "voltage": 3000}


def run_zigbee2mqtt_fridge_door(run_recipe):
    r = run_recipe("zigbee2mqtt_fridge_door")
    topic = "zigbee2mqtt/fridge_door"
    sequence = [
        z2m_contact(True),  # the first message: the door's state, not an opening
        z2m_contact(False),  # opened (1)
        z2m_contact(False, battery=99),  # a battery report while open: not another opening
        z2m_contact(True),  # closed
        z2m_contact(True),  # a link-quality report while closed
        z2m_contact(False),  # opened (2)
        z2m_contact(True),
        z2m_contact(False),  # opened (3)
    ]
    for payload in sequence:
        r.send(topic, payload)
    r.flush()
    assert r.value("fridge_openings") == 3
    attribute = r.mock.state.attribute("fridge_openings")
    assert (attribute["group"]["name"], attribute["value_type"]) == ("food", 0)


def run_coffee_buttons(run_recipe):
    r = run_recipe("coffee_buttons")
    z2m = "zigbee2mqtt/coffee_button"
    r.send(z2m, {"action": "single", "battery": 100, "linkquality": 87, "voltage": 3045})  # 1
    r.send(z2m, {"action": "", "battery": 100, "linkquality": 87, "voltage": 3045})  # cleared
    r.send(z2m, {"battery": 99, "linkquality": 90, "voltage": 3040})  # a battery report
    r.send(z2m, {"action": "double", "battery": 99, "linkquality": 90, "voltage": 3040})
    r.send(z2m, {"action": "single", "battery": 99, "linkquality": 90, "voltage": 3040})  # 2
    shelly = "shellies/shellybutton1-C45BBE6A1B2C/input_event/0"
    for event, count in (("S", 41), ("SS", 42), ("S", 43), ("L", 44)):  # 3 and 4: S only
        r.send(shelly, {"event": event, "event_cnt": count}, retain=True)  # the Shelly retains
    r.flush()
    assert r.value("coffees") == 4
    # a restart: the broker replays the Shelly's retained press; it is not a coffee
    taken, skipped = r.taken_in(), r.counter("skipped")
    assert (taken, skipped) == (9, 5)
    r.restart()
    wait_until(lambda: r.taken_in() == taken + 1)  # the retained "S" again, flagged retained
    assert r.counter("skipped") == skipped + 1
    r.flush()
    assert r.value("coffees") == 4
    assert r.counter("events") == 4


def run_home_assistant_steps(run_recipe):
    r = run_recipe("home_assistant_steps")
    topic = "homeassistant/sensor/phone_steps/state"
    for payload in ("1200", "unavailable", "3400", "unknown", "5021"):
        r.send(topic, payload)
    r.flush()
    assert r.value("steps") == 5021
    assert [e["op"] for e in r.mock.state.ledger(attribute="steps")] == ["update"]
    assert r.counter("skipped") == 2 and r.counter("bad_input.no_value") == 0
    r.send(topic, "6100", when=at(7, 8))  # the next morning: a new day's total
    r.flush()
    assert r.mock.state.values("steps") == {DAY: 5021, "2024-05-07": 6100}


def mi_scale(weight: float, unit: str = "kg", body_fat: float | None = None) -> dict:
    """xiaomi_mi_scale's message: full body composition only when impedance was measured."""
    message = {"weight": weight, "weight_unit": unit, "bmi": 22.9}
    if body_fat is not None:
        message |= {
            "basal_metabolism": 1598,
            "visceral_fat": 9.2,
            "lean_body_mass": 54.1,
            "body_fat": body_fat,
            "water": 55.3,
            "bone_mass": 2.9,
            "muscle_mass": 53.6,
            "protein": 17.9,
            "body_type": "Balanced",
            "metabolic_age": 31,
        }
    return message | {"timestamp": "2024-05-06T07:12:03+00:00"}


def run_smart_scale(run_recipe):
    r = run_recipe("smart_scale", when=at(6, 7, 12))
    r.send("miscale/anna/weight", mi_scale(160.0, "lbs", body_fat=22.0))
    r.flush()
    assert r.value("weight") == 72.57  # 160 lb in kg, rounded to 2 places
    assert r.value("body_fat") == 0.22
    r.send("miscale/anna/weight", mi_scale(72.4, body_fat=21.5))
    r.send("miscale/anna/weight", mi_scale(72.1))  # in socks: no body fat measured
    r.flush()
    assert r.value("weight") == 72.1
    assert r.value("body_fat") == 0.215  # 21.5 % as Exist's 0.0-1.0 percentage
    assert (
        r.counter("skipped") == 1
        and sum(n for k, n in r.bridge.outbox.counters().items() if k.startswith("bad_input.")) == 0
    )


def tasmota(total: float, power: int) -> dict:
    return {
        "Time": "2024-05-06T12:00:00",
        "ENERGY": {
            "TotalStartTime": "2023-11-02T18:12:44",
            "Total": total,
            "Yesterday": 0.512,
            "Today": 0.123,
            "Period": 2,
            "Power": power,
            "ApparentPower": 52,
            "ReactivePower": 33,
            "Factor": 0.77,
            "Voltage": 233,
            "Current": 0.223,
        },
    }


def run_energy_meter(run_recipe):
    r = run_recipe("energy_meter")
    plug, em = "tele/plug/SENSOR", "shellies/shellyem-B9A4F2C3D1E0/emeter/0/total"
    r.send(plug, tasmota(123.456, 40))  # baseline: no increase yet
    r.send(em, "51234.5")  # baseline (Wh)
    r.send(plug, tasmota(123.5, 41))  # +0.044
    r.send(em, "51468.9")  # +234.4 Wh = +0.2344 kWh
    r.send(plug, tasmota(124, 38))  # +0.5
    r.flush()
    assert r.value("energy_kwh") == 0.7784
    r.restart()  # the last readings come back from the state directory
    r.send(plug, tasmota(124.25, 40))  # +0.25, not a new baseline
    r.send(plug, tasmota(0.012, 39))  # the plug was reset: counts from zero, +0.012
    r.send(plug, tasmota(0.1, 40))  # +0.088
    r.send(em, "51700")  # +0.2311
    r.flush()
    assert r.value("energy_kwh") == 1.3595  # 0.894 from the plug + 0.4655 from the EM
    attribute = r.mock.state.attribute("energy_kwh")
    assert (attribute["group"]["name"], attribute["value_type"]) == ("custom", 1)


def occupancy(on: bool) -> dict:
    return {"battery": 100, "illuminance": 21, "linkquality": 84, "occupancy": on, "voltage": 3005}


def run_room_occupancy(run_recipe):
    r = run_recipe("room_occupancy")
    topic = "zigbee2mqtt/office_motion"
    r.send(topic, occupancy(True), when=at(6, 9, 0, 0))
    r.send(topic, occupancy(True), when=at(6, 9, 1, 30))  # still there: +1 min, 30 s carried
    r.send(topic, occupancy(False), when=at(6, 9, 3, 10))  # 100 s + 30 s: +2, 10 s carried
    r.send(topic, occupancy(False), when=at(6, 9, 3, 40))  # off again: nothing
    for hour in (11, 12, 13):  # three 90 s visits with the carry: +1, +2, +1 (40 s left)
        r.send(topic, occupancy(True), when=at(6, hour))
        r.send(topic, occupancy(False), when=at(6, hour, 1, 30))
    r.flush()
    assert r.value("office_minutes") == 7
    # a late visit across midnight: 2 min before it (with the 40 s), 3 min 30 s after
    r.send(topic, occupancy(True), when=at(6, 23, 58))
    r.send(topic, occupancy(False), when=at(7, 0, 3, 30))
    r.flush()
    assert r.mock.state.values("office_minutes") == {DAY: 9, "2024-05-07": 4}
    attribute = r.mock.state.attribute("office_minutes")
    assert (attribute["group"]["name"], attribute["value_type"]) == ("custom", 3)


def run_custom_tag(run_recipe):
    r = run_recipe("custom_tag")
    ha, button = "homeassistant/input_boolean/worked_from_home/state", "zigbee2mqtt/desk_button"
    r.send(ha, "on", when=at(6, 9))
    r.send(ha, "unavailable", when=at(6, 10))  # Home Assistant restarting: skipped
    r.send(ha, "on", when=at(7, 8))
    r.send(ha, "off", when=at(7, 9))  # switched off again the same day: 0
    r.send(button, {"action": "single", "battery": 97, "linkquality": 102}, when=at(8, 9))
    r.send(button, {"action": "", "battery": 97, "linkquality": 102}, when=at(8, 9))
    r.send(button, {"action": "double", "battery": 97, "linkquality": 102}, when=at(8, 10))
    r.flush()
    assert r.mock.state.values("worked_from_home") == {DAY: 1, "2024-05-07": 0, "2024-05-08": 1}
    attribute = r.mock.state.attribute("worked_from_home")
    assert (attribute["group"]["name"], attribute["value_type"]) == ("custom", 7)


SCENARIOS = {
    "zigbee2mqtt_fridge_door": run_zigbee2mqtt_fridge_door,
    "coffee_buttons": run_coffee_buttons,
    "home_assistant_steps": run_home_assistant_steps,
    "smart_scale": run_smart_scale,
    "energy_meter": run_energy_meter,
    "room_occupancy": run_room_occupancy,
    "custom_tag": run_custom_tag,
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_recipe_end_to_end(name, run_recipe):
    SCENARIOS[name](run_recipe)
