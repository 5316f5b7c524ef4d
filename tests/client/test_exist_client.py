"""The HTTP client: chunking, 200/202, pagination, retries, 429, unknown outcomes."""

from __future__ import annotations

import json

import pytest
import requests
import responses

from mqtt_bridge.exist.budget import token_key
from mqtt_bridge.exist.client import WriteResult, chunked, parse_retry_after
from mqtt_bridge.exist.errors import (
    AuthError,
    BudgetExhausted,
    ClientError,
    ConnectionFailed,
    InvalidValue,
    OutcomeUnknown,
    PermissionDenied,
    RateLimited,
    ServerError,
    ValidationError,
)
from mqtt_bridge.exist.version import __version__

from ..support.exist_client import API, BASE, TOKEN, bodies, echo_write

UPDATE = API + "/attributes/update/"
INCREMENT = API + "/attributes/increment/"
PROFILE = API + "/accounts/profile/"


def steps(n: int) -> list[dict]:
    return [{"name": "steps", "date": f"2024-01-{(i % 28) + 1:02d}", "value": i} for i in range(n)]


# --------------------------------------------------------------------------- request shape


def test_requests_carry_user_agent_bearer_and_json_content_type(rsps, client):
    rsps.add_callback(responses.POST, UPDATE, callback=echo_write())
    client.update(steps(1))
    request = rsps.calls[0].request
    assert request.headers["User-Agent"] == f"exist-mqtt-bridge/{__version__}"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body) == steps(1)


def test_profile_is_typed(rsps, client):
    rsps.add(
        responses.GET,
        PROFILE,
        json={"username": "josh", "timezone": "Australia/Sydney", "first_name": "Josh"},
    )
    profile = client.profile()
    assert (profile.username, profile.timezone, profile.first_name) == (
        "josh",
        "Australia/Sydney",
        "Josh",
    )


def test_pagination_follows_next_links_on_our_own_origin(rsps, client):
    page1 = {
        "count": 3,
        # a next link naming another host: followed on our base URL only (the token goes along)
        "next": "https://elsewhere.example/api/2/attributes/owned/?page=2&limit=100",
        "results": [{"name": "steps", "value_type": 0, "group": {"name": "activity"}}],
    }
    page2 = {
        "count": 3,
        "next": None,
        "results": [
            {"name": "mood", "value_type": 8, "service": {"name": "me", "label": "Me"}},
            {"name": "coffees", "value_type": 0},
        ],
    }
    rsps.add(responses.GET, API + "/attributes/owned/", json=page1)
    rsps.add(responses.GET, API + "/attributes/owned/", json=page2)
    attrs = client.owned_attributes()
    assert [a.name for a in attrs] == ["steps", "mood", "coffees"]
    assert attrs[0].group == "activity" and attrs[1].service == "me" and attrs[1].value_type == 8
    assert rsps.calls[1].request.url.startswith(BASE + "/api/2/attributes/owned/?")
    assert "page=2" in rsps.calls[1].request.url


def test_with_values_passes_days_and_reads_values(rsps, client):
    rsps.add(
        responses.GET,
        API + "/attributes/with-values/",
        json={
            "next": None,
            "results": [{"name": "steps", "values": [{"date": "2024-01-02", "value": 7}]}],
        },
    )
    [attr] = client.attributes_with_values(days=3, attributes=["steps"])
    assert attr.value_on("2024-01-02") == 7
    assert "days=3" in rsps.calls[0].request.url and "attributes=steps" in rsps.calls[0].request.url


# --------------------------------------------------------------------------- chunking, 200/202


def test_chunked_splits_into_35_and_rest():
    parts = chunked(list(range(71)), 35)  # type: ignore[arg-type]
    assert [len(p) for p in parts] == [35, 35, 1]
    assert [x for p in parts for x in p] == list(range(71))


def test_36_items_are_sent_as_35_plus_1_and_merged(rsps, client):
    rsps.add_callback(responses.POST, UPDATE, callback=echo_write())
    items = steps(36)
    result = client.update(items)
    sent = bodies(rsps, "/api/2/attributes/update/")
    assert [len(b) for b in sent] == [35, 1]
    assert sent[0] + sent[1] == items
    assert result.requests == 2 and result.status == 200 and result.ok
    assert result.success == items


def test_202_partial_failures_are_merged_across_chunks(rsps, client):
    bad = {3, 40}
    rsps.add_callback(
        responses.POST,
        UPDATE,
        callback=echo_write(
            fail=lambda item: (
                ("validation", "Cannot apply a float to an integer type")
                if item["value"] in bad
                else None
            )
        ),
    )
    result = client.update(steps(41))
    assert result.statuses == [202, 202]
    assert result.status == 202 and not result.ok
    assert len(result.success) == 39
    assert [f.value for f in result.failures] == [3, 40]
    assert {f.error_code for f in result.failures} == {"validation"}


def test_202_with_every_item_failed_is_a_result_not_an_exception(rsps, client):
    rsps.add_callback(
        responses.POST, UPDATE, callback=echo_write(fail=lambda i: ("not_found", "nope"))
    )
    result = client.update(steps(2))
    assert result.success == [] and len(result.failed) == 2 and result.status == 202


def test_empty_write_sends_nothing(rsps, client):
    assert client.update([]) == WriteResult()
    assert len(rsps.calls) == 0


def test_values_no_attribute_accepts_are_refused_before_sending(rsps, client):
    for value in (float("nan"), float("inf"), None, True):
        with pytest.raises(InvalidValue):
            client.update([{"name": "steps", "date": "2024-01-01", "value": value}])
        with pytest.raises(ValueError):  # InvalidValue is a ValueError
            client.increment([{"name": "steps", "value": value}])
    assert len(rsps.calls) == 0


# --------------------------------------------------------------------------- 5xx and 4xx


def test_5xx_is_retried_with_exponential_backoff_and_jitter(rsps, client, clock):
    rsps.add(responses.POST, UPDATE, status=502, json={"detail": "bad gateway"})
    rsps.add(responses.POST, UPDATE, status=503, json={"detail": "unavailable"})
    rsps.add_callback(responses.POST, UPDATE, callback=echo_write())
    result = client.update(steps(1))
    assert result.ok and len(rsps.calls) == 3
    assert len(clock.sleeps) == 2
    assert 1.0 <= clock.sleeps[0] <= 2.0  # initial 1s + jitter up to 1s
    assert 2.0 <= clock.sleeps[1] <= 3.0  # doubled


def test_5xx_gives_up_after_max_attempts_with_server_error(rsps, make_client, clock):
    client = make_client(max_attempts=3)
    rsps.add(responses.GET, PROFILE, status=500, json={"detail": "boom"})
    with pytest.raises(ServerError) as info:
        client.profile()
    assert info.value.status == 500
    assert len(rsps.calls) == 3 and len(clock.sleeps) == 2


def test_backoff_is_capped(rsps, make_client, clock):
    client = make_client(max_attempts=8, backoff_max=5.0)
    rsps.add(responses.GET, PROFILE, status=500)
    with pytest.raises(ServerError):
        client.profile()
    assert max(clock.sleeps) <= 5.0
    assert len(clock.sleeps) == 7


def test_connection_errors_are_retried_for_idempotent_requests(rsps, client, clock):
    rsps.add(responses.POST, UPDATE, body=requests.exceptions.ConnectionError("reset by peer"))
    rsps.add(responses.POST, UPDATE, body=requests.exceptions.ReadTimeout("read timed out"))
    rsps.add_callback(responses.POST, UPDATE, callback=echo_write())
    assert client.update(steps(1)).ok
    assert len(rsps.calls) == 3 and len(clock.sleeps) == 2


def test_connection_failure_after_retries_is_typed(rsps, make_client):
    client = make_client(max_attempts=2)
    rsps.add(responses.GET, PROFILE, body=requests.exceptions.ConnectionError("refused"))
    with pytest.raises(ConnectionFailed):
        client.profile()
    assert len(rsps.calls) == 2


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, ValidationError),
        (404, ClientError),
        (405, ClientError),
        (415, ClientError),
        (403, PermissionDenied),
    ],
)
def test_4xx_is_never_retried(rsps, client, clock, status, error):
    rsps.add(responses.POST, UPDATE, status=status, json={"detail": "nope"})
    with pytest.raises(error) as info:
        client.update(steps(1))
    assert info.value.status == status
    assert "nope" in str(info.value)
    assert len(rsps.calls) == 1 and clock.sleeps == []


def test_401_with_a_personal_token_is_an_auth_error_without_retry(rsps, client):
    rsps.add(responses.GET, PROFILE, status=401, json={"detail": "Invalid token"})
    with pytest.raises(AuthError):
        client.profile()
    assert len(rsps.calls) == 1


# --------------------------------------------------------------------------- increments


def test_increment_is_not_retried_after_a_5xx(rsps, client, clock):
    rsps.add(responses.POST, INCREMENT, status=500, json={"detail": "oops"})
    rsps.add_callback(responses.POST, INCREMENT, callback=echo_write())
    items = [{"name": "coffees", "value": 1}]
    with pytest.raises(OutcomeUnknown) as info:
        client.increment(items)
    assert len(rsps.calls) == 1 and clock.sleeps == []
    assert info.value.items == items and info.value.status == 500
    assert "not retried" in str(info.value)


@pytest.mark.parametrize(
    "exc",
    [
        requests.exceptions.ReadTimeout("read timed out"),
        requests.exceptions.ConnectionError("Connection aborted: reset by peer"),
    ],
)
def test_increment_is_not_retried_after_a_lost_answer(rsps, client, exc):
    rsps.add(responses.POST, INCREMENT, body=exc)
    rsps.add_callback(responses.POST, INCREMENT, callback=echo_write())
    with pytest.raises(OutcomeUnknown):
        client.increment([{"name": "coffees", "value": 1}])
    assert len(rsps.calls) == 1


def test_increment_is_retried_when_it_certainly_was_not_sent(rsps, client):
    rsps.add(responses.POST, INCREMENT, body=requests.exceptions.ConnectTimeout("connect timeout"))
    rsps.add_callback(responses.POST, INCREMENT, callback=echo_write())
    assert client.increment([{"name": "coffees", "value": 1}]).ok
    assert len(rsps.calls) == 2


def test_increment_of_zero_is_idempotent_and_retried(rsps, client):
    rsps.add(responses.POST, INCREMENT, status=500)
    rsps.add_callback(
        responses.POST, INCREMENT, callback=echo_write(extra=lambda item: {"current": 12})
    )
    result = client.increment([{"name": "coffees", "date": "2024-01-01", "value": 0}])
    assert result.success[0]["current"] == 12 and len(rsps.calls) == 2


def test_unknown_outcome_in_a_later_chunk_reports_what_completed(rsps, client):
    rsps.add_callback(responses.POST, INCREMENT, callback=echo_write())
    rsps.add(responses.POST, INCREMENT, status=503)
    items = [{"name": "coffees", "date": "2024-01-01", "value": 1} for _ in range(80)]
    with pytest.raises(OutcomeUnknown) as info:
        client.increment(items)
    err = info.value
    assert len(err.completed.success) == 35  # the first chunk landed
    assert len(err.items) == 35  # the second is in doubt
    assert len(err.unsent) == 10  # the third was never sent
    assert len(rsps.calls) == 2


def test_increment_429_is_retried_because_it_was_not_applied(rsps, client, clock):
    rsps.add(responses.POST, INCREMENT, status=429, headers={"Retry-After": "3"})
    rsps.add_callback(responses.POST, INCREMENT, callback=echo_write())
    assert client.increment([{"name": "coffees", "value": 1}]).ok
    assert clock.sleeps == [3.0]


# --------------------------------------------------------------------------- 429


def test_429_with_retry_after_waits_then_retries(rsps, client, clock):
    rsps.add(responses.GET, PROFILE, status=429, headers={"Retry-After": "17"})
    rsps.add(responses.GET, PROFILE, json={"username": "u", "timezone": "UTC"})
    assert client.profile().username == "u"
    assert clock.sleeps == [17.0]
    assert len(rsps.calls) == 2


def test_429_longer_than_max_wait_raises_and_blocks_until_then(rsps, make_client, clock):
    client = make_client(max_wait=10)
    rsps.add(responses.GET, PROFILE, status=429, headers={"Retry-After": "120"})
    rsps.add(responses.GET, PROFILE, json={"username": "u", "timezone": "UTC"})
    with pytest.raises(RateLimited) as info:
        client.profile()
    assert info.value.retry_after == 120 and clock.sleeps == []
    # nothing is sent before the Retry-After has passed: the budget refuses locally
    clock.advance(60)
    with pytest.raises(BudgetExhausted) as blocked:
        client.profile()
    assert blocked.value.retry_after == pytest.approx(60)
    assert len(rsps.calls) == 1
    clock.advance(60)
    assert client.profile().username == "u"


def test_429_without_retry_after_waits_for_the_window_to_reset(rsps, make_client, clock):
    client = make_client(max_wait=60)
    rsps.add(responses.GET, PROFILE, status=429)
    with pytest.raises(RateLimited) as info:
        client.profile()
    assert info.value.retry_after == 3600
    status = client.budget.status(token_key(TOKEN))
    assert status.blocked_until == pytest.approx(clock.now + 3600)


def test_429_retry_after_as_http_date(clock):
    assert parse_retry_after("Tue, 14 Nov 2023 22:14:20 GMT", 1_700_000_000.0) == 60.0
    assert parse_retry_after("garbage", 0) is None
    assert parse_retry_after(None, 0) is None


def test_budget_exhaustion_raises_without_sending(rsps, make_client, clock):
    from mqtt_bridge.exist.budget import RequestBudget

    client = make_client(budget=RequestBudget(limit=3, margin=1, clock=clock), max_wait=0)
    rsps.add(responses.GET, PROFILE, json={"username": "u", "timezone": "UTC"})
    client.profile()
    client.profile()
    with pytest.raises(BudgetExhausted) as info:
        client.profile()
    assert info.value.retry_after == pytest.approx(3600)
    assert len(rsps.calls) == 2


def test_a_short_budget_wait_is_slept_through(rsps, make_client, clock):
    from mqtt_bridge.exist.budget import RequestBudget

    client = make_client(budget=RequestBudget(limit=2, margin=0, window=30, clock=clock))
    rsps.add(responses.GET, PROFILE, json={"username": "u", "timezone": "UTC"})
    for _ in range(3):
        client.profile()
    assert clock.sleeps == [30.0]
    assert len(rsps.calls) == 3
