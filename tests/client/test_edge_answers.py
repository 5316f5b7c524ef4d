"""Issue 11, item 1: every field of an Exist write answer is checked before it touches state.

A malformed answer is a failed request (``ServerError``, so the flusher backs off), an increment
``current`` that can't be believed is a per-item failure (``invalid_answer``) - never a value.
"""

from __future__ import annotations

import json

import pytest
import responses

from mqtt_bridge.exist.attributes import AttributeManager
from mqtt_bridge.exist.client import INVALID_ANSWER, MAX_ABS_VALUE, value_problem
from mqtt_bridge.exist.errors import OutcomeUnknown, ServerError

from .conftest import API

UPDATE = API + "/attributes/update/"
INCREMENT = API + "/attributes/increment/"


def items(*names: str, value: int = 0) -> list[dict]:
    return [{"name": n, "date": "2024-01-02", "value": value} for n in names]


def answer_with_currents(currents: dict[str, object]):
    def callback(request):
        body = json.loads(request.body)
        success = [{**i, "current": currents[i["name"]]} for i in body]
        return 200, {}, json.dumps({"success": success, "failed": []})

    return callback


@pytest.mark.parametrize(
    "body",
    [
        {"success": "x", "failed": 5},
        {"success": [], "failed": 5},
        {"success": ["steps"], "failed": []},
        {"success": {"name": "steps"}},
        {"success": [], "failed": [{"name": "steps", "error_code": 7, "error": "x"}]},
    ],
)
def test_a_malformed_update_answer_is_a_failed_request(rsps, client, body):
    rsps.add(responses.POST, UPDATE, json=body, status=200)
    with pytest.raises(ServerError, match="malformed answer"):
        client.update(items("steps", value=3))


def test_a_malformed_answer_to_a_real_increment_is_an_unknown_outcome(rsps, client):
    rsps.add(responses.POST, INCREMENT, json={"success": "x", "failed": 5}, status=200)
    with pytest.raises(OutcomeUnknown, match="malformed answer"):
        client.increment(items("steps", value=2))


@pytest.mark.parametrize("bad", ["abc", 1e308, True, None, [1], {"v": 1}, 2**40])
def test_an_unbelievable_current_fails_that_item_only(rsps, client, bad):
    rsps.add_callback(
        responses.POST, INCREMENT, callback=answer_with_currents({"steps": bad, "floors": 12})
    )
    result = client.increment(items("steps", "floors"))
    assert [(s["name"], s["current"]) for s in result.success] == [("floors", 12)]
    assert [(f["name"], f["error_code"]) for f in result.failed] == [("steps", INVALID_ANSWER)]


def test_nan_and_infinity_in_the_json_are_refused(rsps, client):
    rsps.add(
        responses.POST,
        INCREMENT,
        body='{"success": [{"name": "steps", "date": "2024-01-02", "value": 0, '
        '"current": NaN}, {"name": "floors", "date": "2024-01-02", "value": 0, '
        '"current": Infinity}], "failed": []}',
        status=200,
        content_type="application/json",
    )
    result = client.increment(items("steps", "floors"))
    assert result.success == []
    assert sorted(f["name"] for f in result.failed) == ["floors", "steps"]


def test_value_problem_accepts_plain_numbers_only():
    assert value_problem(0) is None
    assert value_problem(-3.5) is None
    assert value_problem(MAX_ABS_VALUE) is None
    assert value_problem(MAX_ABS_VALUE + 1) is not None
    assert value_problem("12") is not None


def test_a_fractional_current_for_an_integer_attribute_is_refused(rsps, client, tmp_path):
    manager = AttributeManager(client, [], tmp_path / "attributes.json", invalid_items="fail")
    manager.learn([{"name": "steps", "value_type": 0}, {"name": "weight", "value_type": 1}])
    rsps.add_callback(
        responses.POST, INCREMENT, callback=answer_with_currents({"steps": 1.5, "weight": 71.5})
    )
    result = manager.increment(items("steps", "weight"))
    assert [(s["name"], s["current"]) for s in result.success] == [("weight", 71.5)]
    assert [(f["name"], f["error_code"]) for f in result.failed] == [("steps", INVALID_ANSWER)]


PROFILE = API + "/accounts/profile/"
OWNED = API + "/attributes/owned/"


@pytest.mark.parametrize("zone", ["abc", 5, "", "../../etc/passwd", ["UTC"]])
def test_a_profile_with_an_unknown_timezone_is_a_failed_request(rsps, client, zone):
    rsps.add(responses.GET, PROFILE, json={"username": "u", "timezone": zone})
    with pytest.raises(ServerError, match="timezone"):
        client.profile()


@pytest.mark.parametrize("results", ["abc", 5, [1, 2], {"name": "steps"}])
def test_a_page_that_is_not_a_list_of_objects_is_a_failed_request(rsps, client, results):
    rsps.add(responses.GET, OWNED, json={"count": 1, "next": None, "results": results})
    with pytest.raises(ServerError, match="results"):
        client.owned_attributes()


def test_a_boolean_value_type_is_not_a_value_type(rsps, client):
    rsps.add(
        responses.GET,
        OWNED,
        json={"next": None, "results": [{"name": "steps", "value_type": True}]},
    )
    assert client.owned_attributes()[0].value_type is None
