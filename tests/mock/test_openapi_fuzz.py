"""Fuzzing the mock from its own OpenAPI document: no input, however malformed, may give a 5xx.

Two layers:

- schemathesis generates requests (valid and invalid) for every operation in
  ``mock_exist/http/openapi.json`` and sends them to the Flask app in-process (WSGI); every answer
  must be below 500, and its status, content type, headers and body must be the documented ones;
- a hand-written hypothesis test posts arbitrary JSON (nested lists and objects, huge integers,
  unicode, floats) to each write endpoint: 200, 202 or 400, always with a JSON body;
- regression tests for the 5xx the fuzzing found.

Both are derandomized (no example database, a fixed sequence of inputs) and bounded, so they are
neither flaky nor slow. The requests are authenticated with the default user's personal token and
a rate limit nobody reaches; the mock is reset and seeded before each test.
"""

from __future__ import annotations

import base64
import json

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from mock_exist import create_app

pytestmark = pytest.mark.slow  # mosquitto, subprocesses or seconds of work: see pyproject

TOKEN = "a" * 40
AUTH = {"Authorization": f"Bearer {TOKEN}"}
APP = create_app({"token": TOKEN, "rate_limit": 10**9})
MOCK = APP.extensions["mock_exist"]

FUZZ_EXAMPLES = 25  # per operation, on top of schemathesis's explicit and coverage cases
JSON_EXAMPLES = 60  # per write endpoint

# the emulated API only: the /_mock/ control API is fuzzed field by field in test_edges.py
schema = schemathesis.openapi.from_wsgi("/_mock/openapi.json", APP).exclude(path_regex="^/_mock/")
schema.config.generation.update(max_examples=FUZZ_EXAMPLES, deterministic=True)

# Attributes of every value type, owned by the default client (so writes reach the value rules),
# one owned by nobody and one by another client (so the ownership rules are reached too).
SEEDED = {
    "steps": {"template": "steps"},  # 0 integer
    "steps_distance": {"template": "steps_distance"},  # 1 decimal
    "mood_note": {"template": "mood_note"},  # 2 string
    "sleep": {"template": "sleep"},  # 3 period
    "sleep_start": {"template": "sleep_start"},  # 6 time from midday
    "wake_time": {"group": "custom", "value_type": 4},
    "ratio": {"group": "custom", "value_type": 5},
    "coffee": {"group": "custom", "value_type": 7},
    "energy": {"group": "custom", "value_type": 8},
}
NAMES = [*SEEDED, "orphan", "theirs", "no_such_attribute"]
DAYS = ["2024-01-01", "2024-01-02", None]  # few days, so that writes add up


def seed() -> None:
    MOCK.reset()
    MOCK.add_client("other_app", "other_secret", ["http://localhost:9/"])
    for name, spec in SEEDED.items():
        MOCK.seed_attribute(name, owner="mock_client", manual=False, **spec)
    MOCK.seed_attribute("orphan", value_type=0, values={"2024-01-01": 3})
    MOCK.seed_attribute("theirs", value_type=0, owner="other_app")


@pytest.fixture(autouse=True)
def fresh_mock():
    seed()
    yield


def test_seeded_state_is_reachable():
    assert MOCK.attribute("steps")["service"]["name"] == "mock_client"
    response = APP.test_client().get("/api/2/attributes/?limit=100", headers=AUTH)
    assert response.status_code == 200
    assert response.get_json()["count"] == len(NAMES) - 1  # every seeded attribute


# ------------------------------------------------------------------ schemathesis, from the document

CONFORMANCE = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@schema.parametrize()
@settings(
    max_examples=FUZZ_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_error_for_any_generated_request(case):
    response = case.call(headers=AUTH)
    assert response.status_code < 500, (
        f"{case.method} {case.path} -> {response.status_code}\n{case.as_curl_command()}"
    )
    case.validate_response(response, checks=CONFORMANCE, headers=AUTH)


# ------------------------------------------------------------------ arbitrary JSON, by hand

WRITES = ["acquire", "release", "create", "update", "increment"]
EDGE_NUMBERS = [0, -0.0, 1, 0.5, 1439, 1440, 10**20, 2**63, 10**400, -(10**400), 1.5e308, 5e-324]
# text with lone surrogates too: JSON can escape them ("\\ud800") though UTF-8 can't encode them
TEXT = st.text() | st.lists(
    st.characters() | st.characters(categories=["Cs"]), min_size=1, max_size=6
).map("".join)


def _json_values() -> st.SearchStrategy:
    """Any JSON value: nested lists and objects of null, booleans, (huge) integers, finite floats,
    unicode text, attribute names and dates."""
    scalars = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.integers(min_value=-(10**400), max_value=10**400)
        | st.floats(allow_nan=False, allow_infinity=False)
        | TEXT
        | st.sampled_from(NAMES)
        | st.dates().map(str)
    )
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4)
        ),
        max_leaves=12,
    )


def _items(values: st.SearchStrategy, edges: st.SearchStrategy) -> st.SearchStrategy:
    """Objects shaped like write items: known keys with plausible or arbitrary values."""

    def mostly(likely: st.SearchStrategy) -> st.SearchStrategy:
        """``likely`` nine times in ten, else any JSON value."""
        return st.integers(0, 9).flatmap(lambda i: values if i == 0 else likely)

    plausible = {
        "name": mostly(st.sampled_from(NAMES)),
        "template": mostly(st.sampled_from(["steps", "mood", "mood_note", "sleep", "nope"])),
        "label": mostly(st.sampled_from(["Coffees", "Time reading", "☕", ""])),
        "group": mostly(st.sampled_from(["custom", "mood", "activity", "twitter"])),
        "value_type": mostly(st.integers(-1, 9)),
        "value": mostly(st.integers(-3, 3) | st.floats(-2, 2) | edges | values),
        "date": mostly(st.sampled_from(DAYS) | st.dates().map(str)),
        "manual": mostly(st.booleans()),
    }
    core = ("name", "date", "value")
    likely = st.fixed_dictionaries(
        {k: plausible[k] for k in core},
        optional={k: v for k, v in plausible.items() if k not in core},
    )
    anything = st.fixed_dictionaries({}, optional=plausible)
    extra = st.dictionaries(TEXT, values, max_size=2)
    return st.builds(lambda a, b, c: {**c, **b, **a}, likely, anything, extra)


def _bodies() -> st.SearchStrategy:
    """Mostly arrays of item-like objects (some over the cap of 35), sometimes any JSON value."""
    values = _json_values()
    edges = st.sampled_from(EDGE_NUMBERS)
    items = _items(values, edges)
    return st.one_of(
        st.lists(items, max_size=3),
        st.lists(items, max_size=36),
        st.lists(items | values, max_size=4),
        values,
    )


def _strict_json(text: str) -> object:
    def reject(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=reject)


@pytest.mark.parametrize("endpoint", WRITES)
@settings(
    max_examples=JSON_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), success_objects=st.booleans())
def test_arbitrary_json_to_write_endpoints(endpoint, data, success_objects):
    body = data.draw(_bodies(), label="body")
    raw = json.dumps(body)  # NaN/Infinity cannot occur: the floats are finite
    response = APP.test_client().post(
        f"/api/2/attributes/{endpoint}/",
        data=raw,
        content_type="application/json",
        headers=AUTH,
        query_string={"success_objects": "1"} if success_objects else {},
    )
    assert response.status_code in {200, 202, 400}, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    payload = _strict_json(response.get_data(as_text=True))
    if response.status_code == 400:
        assert isinstance(payload["detail"], str)
    else:
        assert set(payload) == {"success", "failed"}
        assert (response.status_code == 202) == bool(payload["failed"])
        for item in payload["failed"]:
            assert item["error_code"] in {
                "missing_field",
                "validation",
                "unauthorised",
                "not_found",
                "not_allowed",
            }


# ------------------------------------------------------------------ bugs the fuzzing found
# Each of these was a 500 (or, for the float total, a body that is not JSON) before the fix.


def _post(path: str, body: str):
    return APP.test_client().post(path, data=body, content_type="application/json", headers=AUTH)


def test_increment_mixing_a_huge_integer_and_a_float_is_not_a_server_error():
    body = json.dumps(
        [{"name": "steps_distance", "date": "2024-01-01", "value": v} for v in (10**400, 0.5)]
    )
    response = _post("/api/2/attributes/increment/", body)
    assert response.status_code in {200, 202}


def test_increment_total_past_the_float_range_is_refused_not_infinity():
    body = json.dumps([{"name": "steps_distance", "date": "2024-01-01", "value": 1.7e308}] * 2)
    response = _post("/api/2/attributes/increment/", body)
    _strict_json(response.get_data(as_text=True))  # "current": Infinity is not JSON
    assert response.status_code == 202


def test_with_values_reaching_before_year_one_is_not_a_server_error():
    response = APP.test_client().get(
        "/api/2/attributes/with-values/?date_max=0001-01-01&days=2", headers=AUTH
    )
    assert response.status_code < 500


@pytest.mark.parametrize("how", ["form", "basic"])
def test_non_ascii_client_secret_is_invalid_client(how):
    client = APP.test_client()
    if how == "form":
        form = {"grant_type": "refresh_token", "client_id": "mock_client", "client_secret": "é"}
        response = client.post("/oauth2/access_token", data=form)
    else:
        basic = base64.b64encode("mock_client:é".encode()).decode()
        response = client.post(
            "/oauth2/access_token",
            data={"grant_type": "refresh_token"},
            headers={"Authorization": f"Basic {basic}"},
        )
    assert response.status_code == 401
    assert response.get_json() == {
        "error": "invalid_client",
        "error_description": "Client authentication failed",
    }


def test_lone_surrogate_escapes_in_a_write_body_are_not_a_server_error():
    # Valid JSON syntax (RFC 8259 allows any \\u escape), but not encodable as UTF-8: echoed in
    # failed items it breaks the response, and stored as a label it breaks every later read.
    response = _post(
        "/api/2/attributes/create/",
        '[{"label": "Tea \\ud800", "group": "custom", "value_type": 0}]',
    )
    assert response.status_code < 500
    assert APP.test_client().get("/api/2/attributes/", headers=AUTH).status_code == 200
