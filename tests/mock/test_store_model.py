"""The emulator's rules at the model level: ``mock_exist.store.Store`` driven with an ``Actor``,
plain Python, no Flask and no HTTP (the HTTP tests are in test_write_rules.py and friends).

Ownership (acquire, release, another service's attribute), create (templates, custom attributes,
name clashes, scopes), update and increment value-type rules, and the 35-item cap of a write.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from mock_exist import MockConfig, create_app
from mock_exist.http.parsing import write_items
from mock_exist.rules.clock import Clock
from mock_exist.rules.errors import TooManyItems
from mock_exist.rules.ledger import Ledger
from mock_exist.rules.oauth import WRITE_SCOPES, OAuthRegistry
from mock_exist.rules.store import Actor, Store, User

TODAY = "2026-03-10"
ALL_WRITE = frozenset(WRITE_SCOPES)


@pytest.fixture
def store() -> Store:
    clock = Clock(datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc), frozen=True)
    s = Store(clock, OAuthRegistry(clock), Ledger())
    s.add_user(User("ann", "pw"))
    return s


def actor(client_id: str = "svc_a", scopes: frozenset[str] = ALL_WRITE) -> Actor:
    return Actor("ann", client_id, scopes)


def only_error(result) -> str:
    assert result.success == [] and len(result.failed) == 1, result.to_json()
    return result.failed[0]["error_code"]


def owned(store: Store, name: str, client_id: str = "svc_a") -> None:
    """Give ``client_id`` the templated attribute ``name`` (acquiring creates it)."""
    assert store.acquire(actor(client_id), [{"template": name}]).failed == []


# ----------------------------------------------------------------------------- ownership


def test_acquire_by_template_creates_and_owns_the_attribute(store):
    result = store.acquire(actor(), [{"template": "coffees"}])
    assert result.status == 200 and result.success == [{"template": "coffees", "active": True}]
    attr = store.user("ann").attributes["coffees"]
    assert attr.service == "svc_a" and attr.active and attr.manual is False


def test_acquire_by_name_needs_an_existing_attribute(store):
    assert only_error(store.acquire(actor(), [{"name": "coffees"}])) == "not_found"
    owned(store, "coffees", "svc_b")
    assert store.acquire(actor(), [{"name": "coffees"}]).failed == []
    assert store.user("ann").attributes["coffees"].service == "svc_a"


def test_another_service_can_take_an_attribute_and_the_old_owner_can_no_longer_write(store):
    owned(store, "steps", "svc_a")
    owned(store, "steps", "svc_b")  # taking it over is allowed
    write = [{"name": "steps", "date": TODAY, "value": 5}]
    assert only_error(store.update(actor("svc_a"), write)) == "unauthorised"
    assert store.update(actor("svc_b"), write).failed == []
    assert store.user("ann").attributes["steps"].values == {TODAY: 5}


def test_acquiring_again_succeeds(store):
    owned(store, "steps")
    assert store.acquire(actor(), [{"template": "steps"}]).status == 200


def test_release_makes_the_attribute_inactive_and_unwritable(store):
    owned(store, "steps")
    assert store.release(actor(), [{"name": "steps"}]).failed == []
    attr = store.user("ann").attributes["steps"]
    assert attr.service is None and attr.active is False
    write = [{"name": "steps", "date": TODAY, "value": 1}]
    assert only_error(store.update(actor(), write)) == "unauthorised"
    assert only_error(store.release(actor(), [{"name": "steps"}])) == "unauthorised"


def test_acquire_needs_the_groups_write_scope(store):
    food_only = frozenset({"food_write"})
    assert only_error(store.acquire(actor(scopes=food_only), [{"template": "steps"}])) == (
        "not_allowed"
    )
    assert "steps" not in store.user("ann").attributes  # nothing created on refusal
    assert store.acquire(actor(scopes=food_only), [{"template": "coffees"}]).failed == []


def test_a_custom_attribute_is_not_acquired_by_template(store):
    store.create(actor(), [{"label": "Fridge opens", "group": "food", "value_type": 0}])
    result = store.acquire(actor(), [{"template": "fridge_opens"}])
    assert only_error(result) in {"validation", "not_found"}
    assert store.acquire(actor("svc_b"), [{"name": "fridge_opens"}]).failed == []


# -------------------------------------------------------------------------------- create


def test_create_custom_slugifies_the_label_and_owns_it(store):
    result = store.create(actor(), [{"label": "Time reading!", "group": "custom", "value_type": 3}])
    assert result.failed == [] and result.success[0]["name"] == "time_reading"
    attr = store.user("ann").attributes["time_reading"]
    assert (attr.service, attr.manual, attr.value_type) == ("svc_a", True, 3)


@pytest.mark.parametrize(
    ("item", "code"),
    [
        ({"label": "X", "group": "custom"}, "missing_field"),
        ({"label": "", "group": "custom", "value_type": 0}, "validation"),
        ({"label": "!!!", "group": "custom", "value_type": 0}, "validation"),
        ({"label": "X", "group": "nope", "value_type": 0}, "validation"),
        ({"label": "X", "group": "custom", "value_type": 6}, "validation"),  # templates only
        ({"label": "X", "group": "custom", "value_type": 9}, "validation"),
        ({"label": "X", "group": "custom", "value_type": True}, "validation"),
        ({"label": "X", "group": "custom", "value_type": "0"}, "validation"),
        ({"template": "no_such_template"}, "not_found"),
    ],
)
def test_create_refuses_bad_items(store, item, code):
    assert only_error(store.create(actor(), [item])) == code
    assert store.user("ann").attributes == {}


def test_create_refuses_an_existing_name_but_keeps_the_other_items(store):
    owned(store, "coffees")
    result = store.create(
        actor(),
        [{"template": "coffees"}, {"label": "Water ml", "group": "food", "value_type": 0}],
    )
    assert [s["name"] for s in result.success] == ["water_ml"]
    assert [f["error_code"] for f in result.failed] == ["validation"]
    assert result.status == 202


def test_create_checks_the_write_scope(store):
    no_custom = frozenset({"food_write"})
    item = {"label": "X", "group": "custom", "value_type": 0, "manual": False}
    assert only_error(store.create(actor(scopes=no_custom), [item])) == "not_allowed"
    # manual attributes may be written with manual_write alone
    manual = frozenset({"manual_write"})
    assert store.create(actor(scopes=manual), [{**item, "manual": True}]).failed == []


# ------------------------------------------------------------- update / increment value types


def custom(store: Store, label: str, value_type: int) -> str:
    result = store.create(actor(), [{"label": label, "group": "custom", "value_type": value_type}])
    assert result.failed == [], result.failed
    return result.success[0]["name"]


@pytest.mark.parametrize(
    ("value_type", "good", "bad"),
    [
        (0, [0, 7, -3], [1.5, "3", True]),  # integer
        (1, [0.5, 2, -1.25], ["1.0", float("nan"), float("inf")]),  # decimal
        (2, ["text", ""], [3, 1.0]),  # string
        (3, [0, 90], [1.5]),  # duration (minutes)
        (4, [0, 1439], [1440, -1, 2.0]),  # time of day
        (5, [0.0, 0.5, 1.0, 1], [1.01, -0.1]),  # percentage
        (7, [0, 1], [2, -1, 0.5]),  # boolean
        (8, [1, 9], [0, 10, 5.0]),  # scale
    ],
)
def test_update_checks_the_value_type(store, value_type, good, bad):
    name = custom(store, f"Attr {value_type}", value_type)
    for value in good:
        result = store.update(actor(), [{"name": name, "date": TODAY, "value": value}])
        assert result.failed == [], (value_type, value, result.failed)
        assert store.user("ann").attributes[name].values[TODAY] == value
    for value in bad:
        result = store.update(actor(), [{"name": name, "date": TODAY, "value": value}])
        assert only_error(result) == "validation", (value_type, value)
        assert store.user("ann").attributes[name].values[TODAY] == good[-1]


def test_a_value_never_goes_back_to_null(store):
    owned(store, "steps")
    assert store.update(actor(), [{"name": "steps", "date": TODAY, "value": None}]).failed == []
    store.update(actor(), [{"name": "steps", "date": TODAY, "value": 4}])
    assert only_error(store.update(actor(), [{"name": "steps", "date": TODAY, "value": None}])) == (
        "validation"
    )
    assert store.user("ann").attributes["steps"].values[TODAY] == 4


@pytest.mark.parametrize("bad_date", ["2026-3-10", "20260310", "2026-02-30", 20260310, None])
def test_update_needs_a_strict_date(store, bad_date):
    owned(store, "steps")
    result = store.update(actor(), [{"name": "steps", "date": bad_date, "value": 1}])
    assert only_error(result) == "validation"


def test_increment_adds_defaults_to_the_users_today_and_reports_current(store):
    owned(store, "coffees")
    first = store.increment(actor(), [{"name": "coffees", "value": 2}])
    again = store.increment(actor(), [{"name": "coffees", "value": 3, "date": TODAY}])
    assert first.success[0]["current"] == 2 and again.success[0]["current"] == 5
    assert store.user("ann").attributes["coffees"].values == {TODAY: 5}
    ops = [(e.op, e.value, e.before, e.after) for e in store.ledger.entries]
    assert ops == [("increment", 2, None, 2), ("increment", 3, 2, 5)]


@pytest.mark.parametrize(
    ("value_type", "delta", "code_or_total"),
    [
        (0, 2, 2),
        (0, 1.5, "validation"),  # a float on an integer type
        (1, 0.25, 0.25),
        (2, 1, "validation"),  # strings can't be incremented
        (4, 1, "validation"),  # nor times of day
        (8, 1, "validation"),  # nor scales
        (7, 2, "validation"),  # the total would leave a boolean's 0..1
        (5, 1.5, "validation"),  # nor a percentage's 0..1
        (0, "1", "validation"),
        (0, True, "validation"),
    ],
)
def test_increment_checks_the_value_type_and_the_resulting_total(
    store, value_type, delta, code_or_total
):
    name = custom(store, f"Inc {value_type}", value_type)
    result = store.increment(actor(), [{"name": name, "value": delta, "date": TODAY}])
    if isinstance(code_or_total, str):
        assert only_error(result) == code_or_total
        assert TODAY not in store.user("ann").attributes[name].values
    else:
        assert result.failed == [] and result.success[0]["current"] == code_or_total


def test_writes_to_unknown_attributes_are_not_found(store):
    assert only_error(store.update(actor(), [{"name": "x", "date": TODAY, "value": 1}])) == (
        "not_found"
    )
    assert only_error(store.increment(actor(), [{"name": "x", "value": 1}])) == "not_found"


def test_each_item_is_judged_on_its_own(store):
    owned(store, "steps")
    result = store.update(
        actor(),
        [
            {"name": "steps", "date": TODAY, "value": 1},
            {"name": "steps", "date": TODAY},
            {"name": "steps", "date": "2026-03-09", "value": 2.5},
            {"name": "steps", "date": "2026-03-09", "value": 2},
        ],
    )
    assert len(result.success) == 2 and result.status == 202
    assert [f["error_code"] for f in result.failed] == ["missing_field", "validation"]
    assert store.user("ann").attributes["steps"].values == {TODAY: 1, "2026-03-09": 2}


# ------------------------------------------------------------------------------ the 35 cap


@pytest.mark.parametrize(("count", "allowed"), [(35, True), (36, False)])
def test_a_write_carries_at_most_35_items(count, allowed):
    """The cap belongs to the request, not to ``Store`` (which takes any list): it lives in
    ``mock_exist.parsing.write_items``, checked here in a bare request context (no server)."""
    assert MockConfig().max_items == 35
    app = create_app(MockConfig())
    body = [{"name": "steps", "date": TODAY, "value": i} for i in range(count)]
    with app.test_request_context("/api/2/attributes/update/", method="POST", json=body):
        if allowed:
            assert write_items() == body
        else:
            with pytest.raises(TooManyItems, match="at most 35"):
                write_items()
