"""Attributes: value coercion, bootstrap (acquire / create / remember), value types learned
from Exist, the timezone from the profile, and re-acquiring after ``unauthorised``."""

from __future__ import annotations

import json
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from mqtt_bridge.exist.attributes import AttributeManager, AttributeSpec, parse_specs
from mqtt_bridge.exist.coercion import coerce_value
from mqtt_bridge.exist.errors import InvalidValue

from ..support.exist_client import API, bodies, echo_write

ACQUIRE = API + "/attributes/acquire/"
CREATE = API + "/attributes/create/"
UPDATE = API + "/attributes/update/"
INCREMENT = API + "/attributes/increment/"
OWNED = API + "/attributes/owned/"
PROFILE = API + "/accounts/profile/"

SPECS = [
    {"template": "steps"},
    {"name": "fridge_opens", "label": "Fridge opens", "group": "food", "value_type": 0},
]


def full_object(name: str, value_type: int, template: str | None = None, label: str = "") -> dict:
    return {
        "name": name,
        "template": template,
        "label": label or name,
        "group": {"name": "activity", "label": "Activity", "priority": 1},
        "service": {"name": "my_app", "label": "My app"},
        "value_type": value_type,
        "active": True,
        "manual": False,
    }


def fake_exist(rsps, attrs: dict[str, int], owned_by_others: set[str] | None = None):
    """Acquire/create/update/increment on a dict of {name: value_type} the user has."""
    owned_by_others = owned_by_others if owned_by_others is not None else set()
    mine: set[str] = set()

    def acquire(request):
        items = json.loads(request.body)
        full = "success_objects" in parse_qs(urlsplit(request.url).query)
        success, failed = [], []
        for item in items:
            name = item.get("template") or item.get("name")
            if item.get("template") == "steps":
                attrs.setdefault("steps", 0)
            if name not in attrs:
                failed.append(
                    {**item, "error_code": "not_found", "error": f"no attribute named '{name}'"}
                )
                continue
            mine.add(name)
            owned_by_others.discard(name)
            success.append(
                full_object(name, attrs[name], item.get("template"))
                if full
                else {**item, "active": True}
            )
        return (202 if failed else 200), {}, json.dumps({"success": success, "failed": failed})

    def create(request):
        items = json.loads(request.body)
        success = []
        for item in items:
            name = item["label"].lower().replace(" ", "_")
            attrs[name] = item["value_type"]
            mine.add(name)
            success.append(full_object(name, item["value_type"], label=item["label"]))
        return 200, {}, json.dumps({"success": success, "failed": []})

    def not_mine(item):
        if item["name"] not in attrs:
            return ("not_found", "nope")
        if item["name"] not in mine:
            return ("unauthorised", f"Attribute '{item['name']}' does not belong to this service")
        return None

    rsps.add_callback(responses.POST, ACQUIRE, callback=acquire)
    rsps.add_callback(responses.POST, CREATE, callback=create)
    rsps.add_callback(responses.POST, UPDATE, callback=echo_write(fail=not_mine))
    rsps.add_callback(
        responses.POST,
        INCREMENT,
        callback=echo_write(fail=not_mine, extra=lambda i: {"current": 1}),
    )
    return mine


# --------------------------------------------------------------------------- coercion


@pytest.mark.parametrize(
    ("value_type", "value", "expected"),
    [
        (0, 9.0, 9),
        (0, 9, 9),
        (0, Decimal("12.0"), 12),
        (3, 45.0, 45),
        (4, 1439.0, 1439),
        (6, 0.0, 0),
        (7, 1.0, 1),
        (8, 9.0, 9),
        (1, 2, 2),
        (1, 2.5, 2.5),
        (5, 0.0, 0.0),
        (5, 1, 1),
        (5, 0.25, 0.25),
        (2, "lat,lng", "lat,lng"),
        (None, 3.5, 3.5),
    ],
)
def test_coercion_accepts(value_type, value, expected):
    result = coerce_value(value, value_type, attribute="a")
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(
    ("value_type", "value", "reason"),
    [
        (0, 9.5, "whole number"),
        (3, 0.1, "whole number"),
        (5, 1.5, "between 0 and 1"),
        (5, -0.1, "between 0 and 1"),
        (7, 2, "0 or 1"),
        (8, 10, "between 1 and 9"),
        (8, 0, "between 1 and 9"),
        (4, 1440, "0..1439"),
        (2, 5, "needs a string"),
        (0, "9", "needs a number"),
        (1, float("nan"), "finite"),
        (1, float("inf"), "finite"),
        (None, float("-inf"), "finite"),
        (0, None, "None"),
        (None, None, "None"),
        (7, True, "0 or 1"),
        (0, False, "0 or 1"),
    ],
)
def test_coercion_refuses_with_a_value_error(value_type, value, reason):
    with pytest.raises(InvalidValue, match=reason) as info:
        coerce_value(value, value_type, attribute="fridge_opens")
    assert isinstance(info.value, ValueError)
    assert "fridge_opens" in str(info.value)


def test_increment_deltas():
    assert coerce_value(-3.0, 0, increment=True) == -3  # a negative delta is fine
    assert coerce_value(-0.5, 5, increment=True) == -0.5
    assert coerce_value(5, 7, increment=True) == 5  # range is the server's job for a total
    for value_type in (2, 4, 6, 8):  # "will not allow incrementing string, scale, time of day"
        with pytest.raises(InvalidValue, match="can't be incremented"):
            coerce_value(1, value_type, increment=True)


# --------------------------------------------------------------------------- specs


def test_specs_parse_and_validate():
    steps, fridge = parse_specs(SPECS)
    assert steps == AttributeSpec(name="steps", template="steps")
    assert steps.acquire_item() == {"template": "steps", "manual": False}
    assert fridge.acquire_item() == {"name": "fridge_opens", "manual": False}
    assert fridge.create_item() == {
        "label": "Fridge opens",
        "group": "food",
        "value_type": 0,
        "manual": False,
    }
    assert parse_specs(["coffees"])[0].template == "coffees"
    for bad in (
        {"template": "steps", "value_type": 1},
        {"label": "x"},
        {"name": "x", "label": "X"},  # half a custom definition
        {"name": "x", "label": "X", "group": "food", "value_type": 6},
        {"name": "x", "label": "X", "group": "food", "value_type": True},
        {"name": "x", "colour": "red"},
    ):
        with pytest.raises(ValueError):
            AttributeSpec.from_config(bad)
    with pytest.raises(ValueError, match="twice"):
        parse_specs([{"template": "steps"}, "steps"])


def test_specs_from_other_objects_with_the_same_fields():
    class ConfigSpec:  # like the config loader's dataclass
        name, template, label, group, value_type, line = "steps", "steps", None, None, None, 3

    assert AttributeSpec.from_config(ConfigSpec()) == AttributeSpec("steps", "steps")


# --------------------------------------------------------------------------- bootstrap


def test_bootstrap_acquires_templates_creates_missing_custom_and_remembers(rsps, client, tmp_path):
    attrs: dict[str, int] = {}
    fake_exist(rsps, attrs)
    state = tmp_path / "attributes.json"
    manager = AttributeManager(client, SPECS, state)
    report = manager.bootstrap()

    assert report.acquired == ["steps"] and report.created == ["fridge_opens"] and report.ok
    [acquired] = bodies(rsps, "/api/2/attributes/acquire/")
    assert acquired == [
        {"template": "steps", "manual": False},
        {"name": "fridge_opens", "manual": False},
    ]
    assert "success_objects=1" in rsps.calls[0].request.url
    [created] = bodies(rsps, "/api/2/attributes/create/")
    assert created == [{"label": "Fridge opens", "group": "food", "value_type": 0, "manual": False}]
    assert manager.value_type("steps") == 0 and manager.value_type("fridge_opens") == 0

    # a restart: nothing is acquired or created again
    calls = len(rsps.calls)
    again = AttributeManager(client, SPECS, state)
    report = again.bootstrap()
    assert report.skipped == ["steps", "fridge_opens"] and report.requests == 0
    assert len(rsps.calls) == calls
    assert again.value_type("fridge_opens") == 0  # learned value types are remembered too


def test_a_changed_spec_is_bootstrapped_again(rsps, client, tmp_path):
    fake_exist(rsps, {})
    state = tmp_path / "attributes.json"
    AttributeManager(client, SPECS, state).bootstrap()
    changed = [SPECS[0], {**SPECS[1], "group": "health"}]
    report = AttributeManager(client, changed, state).bootstrap()
    assert report.skipped == ["steps"] and report.acquired == ["fridge_opens"]


def test_failures_are_reported_and_retried_on_the_next_start(rsps, client, tmp_path):
    rsps.add(
        responses.POST,
        ACQUIRE,
        status=202,
        json={
            "success": [],
            "failed": [
                {
                    "template": "steps",
                    "manual": False,
                    "error_code": "not_allowed",
                    "error": "No permission to write to attributes in group 'activity'",
                }
            ],
        },
    )
    state = tmp_path / "attributes.json"
    manager = AttributeManager(client, [{"template": "steps"}], state)
    report = manager.bootstrap()
    assert not report.ok
    assert [(f.name, f.error_code) for f in report.failed] == [("steps", "not_allowed")]
    assert not manager.is_bootstrapped("steps")
    AttributeManager(client, [{"template": "steps"}], state).bootstrap()
    assert len(bodies(rsps, "/api/2/attributes/acquire/")) == 2


def test_value_types_missing_from_answers_are_read_from_owned_attributes(rsps, client):
    rsps.add(
        responses.POST,
        ACQUIRE,
        json={"success": [{"template": "mood", "manual": False, "active": True}], "failed": []},
    )
    rsps.add(responses.GET, OWNED, json={"next": None, "results": [full_object("mood", 8)]})
    manager = AttributeManager(client, ["mood"])
    manager.bootstrap()
    assert manager.value_type("mood") == 8
    assert "attributes=mood" in rsps.calls[-1].request.url


# --------------------------------------------------------------------------- writes


def test_writes_coerce_with_learned_value_types(rsps, client):
    fake_exist(rsps, {})
    manager = AttributeManager(client, SPECS)
    manager.bootstrap()
    manager.update([{"name": "steps", "date": "2024-01-01", "value": 9.0}])
    [sent] = bodies(rsps, "/api/2/attributes/update/")
    assert sent == [{"name": "steps", "date": "2024-01-01", "value": 9}]
    assert '"value": 9}' in rsps.calls[-1].request.body  # an int on the wire, not 9.0


def test_unknown_value_types_are_learned_once_from_owned(rsps, client):
    rsps.add(responses.GET, OWNED, json={"next": None, "results": [full_object("x", 0)]})
    rsps.add_callback(responses.POST, UPDATE, callback=echo_write())
    manager = AttributeManager(client)
    manager.update([{"name": "x", "date": "2024-01-01", "value": 3.0}])
    manager.update([{"name": "x", "date": "2024-01-02", "value": 4.0}])
    assert [b[0]["value"] for b in bodies(rsps, "/api/2/attributes/update/")] == [3, 4]
    assert len([c for c in rsps.calls if c.request.url.startswith(OWNED)]) == 1


def test_invalid_values_cost_no_request(rsps, client):
    fake_exist(rsps, {})
    manager = AttributeManager(client, SPECS)
    manager.bootstrap()
    calls = len(rsps.calls)
    with pytest.raises(InvalidValue):
        manager.update([{"name": "steps", "date": "2024-01-01", "value": 9.5}])
    with pytest.raises(InvalidValue):
        manager.increment([{"name": "steps", "value": float("nan")}])
    assert len(rsps.calls) == calls


def test_unauthorised_write_reacquires_and_retries_that_item_once(rsps, client):
    attrs = {"steps": 0, "coffees": 0}
    mine = fake_exist(rsps, attrs)
    manager = AttributeManager(client, [{"template": "steps"}, {"template": "coffees"}])
    manager.bootstrap()
    mine.discard("steps")  # another service took it over
    before = len(bodies(rsps, "/api/2/attributes/acquire/"))

    result = manager.update(
        [
            {"name": "steps", "date": "2024-01-01", "value": 100},
            {"name": "coffees", "date": "2024-01-01", "value": 2},
        ]
    )

    assert result.ok and result.status == 200
    assert sorted(s["name"] for s in result.success) == ["coffees", "steps"]
    acquires = bodies(rsps, "/api/2/attributes/acquire/")[before:]
    assert acquires == [[{"template": "steps", "manual": False}]]  # only the one refused
    updates = bodies(rsps, "/api/2/attributes/update/")
    assert updates[1] == [{"name": "steps", "date": "2024-01-01", "value": 100}]
    assert result.requests == 3  # update, acquire, update


def test_increment_reacquire_retries_only_the_refused_items(rsps, client):
    mine = fake_exist(rsps, {"coffees": 0})
    manager = AttributeManager(client, ["coffees"])
    manager.bootstrap()
    mine.discard("coffees")
    result = manager.increment([{"name": "coffees", "value": 1}])
    assert result.ok
    assert bodies(rsps, "/api/2/attributes/increment/") == [
        [{"name": "coffees", "value": 1}],
        [{"name": "coffees", "value": 1}],
    ]


def test_reacquire_happens_only_once_per_write(rsps, client):
    rsps.add(
        responses.POST,
        UPDATE,
        status=202,
        json={
            "success": [],
            "failed": [
                {
                    "name": "steps",
                    "date": "2024-01-01",
                    "value": 1,
                    "error_code": "unauthorised",
                    "error": "Attribute 'steps' does not belong to this service",
                }
            ],
        },
    )
    rsps.add(responses.POST, ACQUIRE, json={"success": [full_object("steps", 0)], "failed": []})
    manager = AttributeManager(client, ["steps"])
    result = manager.update([{"name": "steps", "date": "2024-01-01", "value": 1}])
    assert [f.error_code for f in result.failures] == ["unauthorised"]
    assert len(bodies(rsps, "/api/2/attributes/update/")) == 2
    assert len(bodies(rsps, "/api/2/attributes/acquire/")) == 1


def test_a_deleted_custom_attribute_is_created_again_on_not_found(rsps, client):
    attrs: dict[str, int] = {}
    fake_exist(rsps, attrs)
    manager = AttributeManager(client, SPECS)
    manager.bootstrap()
    del attrs["fridge_opens"]  # the user deleted it in Exist
    result = manager.increment([{"name": "fridge_opens", "value": 1}])
    assert result.ok
    assert len(bodies(rsps, "/api/2/attributes/create/")) == 2


# --------------------------------------------------------------------------- timezone


def test_timezone_comes_from_the_profile_and_is_cached(rsps, client, clock, tmp_path):
    rsps.add(responses.GET, PROFILE, json={"username": "u", "timezone": "Pacific/Auckland"})
    state = tmp_path / "attributes.json"
    manager = AttributeManager(client, [], state, profile_max_age=3600)
    clock.now = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC = 2023-11-15 11:13 in Auckland
    assert manager.today() == "2023-11-15"
    assert manager.timezone() == "Pacific/Auckland"
    assert AttributeManager(client, [], state).timezone() == "Pacific/Auckland"  # a restart
    assert len(rsps.calls) == 1
    clock.advance(3601)
    manager.timezone()
    assert len(rsps.calls) == 2


def test_another_user_behind_the_token_resets_the_bootstrap_state(rsps, client, tmp_path):
    fake_exist(rsps, {})
    rsps.add(responses.GET, PROFILE, json={"username": "alice", "timezone": "UTC"})
    rsps.add(responses.GET, PROFILE, json={"username": "bob", "timezone": "UTC"})
    manager = AttributeManager(client, SPECS, tmp_path / "a.json")
    manager.timezone()
    manager.bootstrap()
    manager.timezone(refresh=True)
    assert manager.bootstrap().acquired  # done again for bob


def test_invalid_items_can_be_reported_as_failures_while_the_rest_is_sent(rsps, client):
    fake_exist(rsps, {})
    manager = AttributeManager(client, SPECS, invalid_items="fail")
    manager.bootstrap()
    result = manager.update(
        [
            {"name": "steps", "date": "2024-01-01", "value": 9.5},
            {"name": "steps", "date": "2024-01-02", "value": 10.0},
        ]
    )
    assert bodies(rsps, "/api/2/attributes/update/") == [
        [{"name": "steps", "date": "2024-01-02", "value": 10}]
    ]
    [failure] = result.failures
    assert failure.date == "2024-01-01" and failure.error_code == "validation"
    assert "whole number" in failure.error
