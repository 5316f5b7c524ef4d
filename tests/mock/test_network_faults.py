"""Issue 16 (3): the faults real networks have, seen through a real ``requests`` client.

Each test adds a rule over the control API, then shows what a client gets: ``ConnectionError``,
``JSONDecodeError``, a read timeout, an HTML page, and whether the write landed (the ledger).
"""

from __future__ import annotations

import time

import pytest
import requests

from mock_exist.server import MockServer

ITEM = [{"name": "steps", "date": "2024-01-01", "value": 5}]


def add_fault(mock, **rule) -> dict:
    r = requests.post(f"{mock.url}/_mock/faults", json=rule, timeout=10)
    assert r.status_code == 201, r.text
    return r.json()


def faults(mock) -> list[dict]:
    return requests.get(f"{mock.url}/_mock/faults", timeout=10).json()


def update(mock, timeout: float | tuple = 10, **kwargs) -> requests.Response:
    return requests.post(
        f"{mock.url}/api/2/attributes/update/",
        json=ITEM,
        timeout=timeout,
        headers={"Authorization": f"Bearer {mock.token}"},
        **kwargs,
    )


def ledger_has_write(mock) -> bool:
    return any(e["attribute"] == "steps" for e in mock.state.ledger())


def wait_for(condition, timeout: float = 10.0) -> bool:
    """Poll ``condition`` until true or ``timeout``: synchronisation on the server's state."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


@pytest.fixture
def steps(mock_exist):
    mock_exist.state.seed_attribute("steps", template="steps", owner="mock_client")
    return mock_exist


# ------------------------------------------------------------------ connection reset


def test_reset_closes_the_connection_without_an_answer_and_applies_nothing(steps):
    add_fault(steps, path="/api/2/attributes/update/", mode="reset")
    with pytest.raises(requests.exceptions.ConnectionError):
        update(steps)
    assert not ledger_has_write(steps)
    assert update(steps).status_code == 200  # count 1: the next request goes through
    [rule] = faults(steps)
    assert (rule["fired"], rule["active"]) == (1, False)


def test_reset_after_applying_stages_a_write_the_client_never_heard_of(steps):
    add_fault(steps, path="/api/2/attributes/update/", mode="reset", apply=True)
    with pytest.raises(requests.exceptions.ConnectionError):
        update(steps)
    assert steps.state.value("steps", "2024-01-01") == 5
    [entry] = [e for e in steps.state.journal("/api/2/") if e["fault"] == "reset"]
    assert entry["path"] == "/api/2/attributes/update/"


# ------------------------------------------------------------------ bodies that are not JSON


def test_truncated_json_is_a_200_whose_body_does_not_parse_and_the_write_landed(steps):
    add_fault(steps, path="/api/2/attributes/update/", mode="truncated_json")
    r = update(steps)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    assert r.text and r.text.startswith("{")
    with pytest.raises(requests.exceptions.JSONDecodeError):
        r.json()
    assert steps.state.value("steps", "2024-01-01") == 5


def test_malformed_json_is_a_200_that_does_not_parse_and_nothing_landed(steps):
    add_fault(steps, path="/api/2/attributes/update/", mode="malformed_json")
    r = update(steps)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    with pytest.raises(requests.exceptions.JSONDecodeError):
        r.json()
    assert not ledger_has_write(steps)


def test_html_error_page_is_a_proxy_502_in_html(steps):
    add_fault(steps, path="/api/2/*", mode="html_error")
    r = requests.get(
        f"{steps.url}/api/2/accounts/profile/",
        timeout=10,
        headers={"Authorization": f"Bearer {steps.token}"},
    )
    assert r.status_code == 502 and r.headers["Content-Type"].startswith("text/html")
    assert "<h1>502 Bad Gateway</h1>" in r.text
    with pytest.raises(requests.exceptions.JSONDecodeError):
        r.json()
    with pytest.raises(requests.exceptions.HTTPError):
        r.raise_for_status()


# ------------------------------------------------------------------ slowness


def test_slow_body_sends_the_headers_at_once_and_the_body_slowly(steps):
    add_fault(steps, path="/api/2/attributes/update/", mode="slow_body", latency=3)
    r = update(steps, timeout=(5, 0.25), stream=True)  # headers within the read timeout...
    assert r.status_code == 200  # ...but a third of a second between pieces of the body
    with pytest.raises(requests.exceptions.ConnectionError):  # urllib3's read timeout
        r.content  # noqa: B018
    assert steps.state.value("steps", "2024-01-01") == 5  # processed before the answer
    add_fault(steps, path="/api/2/attributes/update/", mode="slow_body", latency=1)
    started = time.monotonic()
    r = update(steps)  # a patient client gets the whole answer
    assert time.monotonic() - started >= 0.9
    assert r.json() == {"success": ITEM, "failed": []}


def test_latency_after_the_write_is_applied_times_the_client_out_after_it_landed(steps):
    add_fault(
        steps, path="/api/2/attributes/update/", mode="latency", latency=3, latency_after=True
    )
    with pytest.raises(requests.exceptions.ReadTimeout):
        update(steps, timeout=(5, 0.5))
    assert wait_for(lambda: steps.state.value("steps", "2024-01-01") == 5)


def test_latency_before_the_write_times_the_client_out_before_it_landed(steps):
    add_fault(steps, path="/api/2/attributes/update/", mode="latency", latency=3)
    with pytest.raises(requests.exceptions.ReadTimeout):
        update(steps, timeout=(5, 0.5))
    assert not ledger_has_write(steps)  # still asleep: the write comes 2.5 s later
    assert wait_for(lambda: ledger_has_write(steps), timeout=10)


# ------------------------------------------------------------------ rules after firing


def test_rules_stay_listed_with_their_counts_until_removed(steps):
    first = add_fault(steps, path="/api/2/attributes/update/", status=503, count=2)
    second = add_fault(steps, path="/api/2/accounts/*", status=500, count=None, method="GET")
    statuses = [update(steps).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    listed = {r["id"]: r for r in faults(steps)}
    assert (listed[first["id"]]["fired"], listed[first["id"]]["active"]) == (2, False)
    assert (listed[second["id"]]["fired"], listed[second["id"]]["active"]) == (0, True)
    r = requests.delete(f"{steps.url}/_mock/faults/{first['id']}", timeout=10)
    assert [rule["id"] for rule in r.json()] == [second["id"]]
    assert requests.delete(f"{steps.url}/_mock/faults/999", timeout=10).status_code == 404


# ------------------------------------------------------------------ seeded chaos


def _chaos_run(seed: int) -> list[int]:
    with MockServer() as server:
        server.state.seed_attribute("steps", template="steps", owner="mock_client")
        add_fault(
            server,
            path="/api/2/attributes/update/",
            status=503,
            count=None,
            probability=0.3,
            seed=seed,
        )
        return [update(server).status_code for _ in range(40)]


def test_seeded_chaos_fails_a_share_of_requests_the_same_way_every_run():
    first, again, other = _chaos_run(42), _chaos_run(42), _chaos_run(7)
    assert first == again
    assert first != other
    assert 4 <= first.count(503) <= 24  # about 30 % of 40
    assert set(first) == {200, 503}


def test_chaos_counts_matched_and_fired_requests(steps):
    add_fault(
        steps,
        path="/api/2/attributes/update/",
        mode="malformed_json",
        count=None,
        probability=0.5,
        seed=1,
    )
    answers = [update(steps) for _ in range(20)]
    broken = sum(1 for r in answers if r.text.startswith("{'"))
    [rule] = faults(steps)
    assert (rule["matched"], rule["fired"]) == (20, broken)
    assert 0 < broken < 20


# ------------------------------------------------------------------ rate limiting


def _profile(mock) -> requests.Response:
    return requests.get(
        f"{mock.url}/api/2/accounts/profile/",
        timeout=10,
        headers={"Authorization": f"Bearer {mock.token}"},
    )


def test_fixed_window_is_rate_limited_until_the_next_hour(mock_exist):
    mock_exist.state.set_clock("2024-05-01T10:59:00+00:00")
    r = requests.post(
        f"{mock_exist.url}/_mock/rate-limit", timeout=10, json={"limit": 2, "mode": "fixed"}
    )
    assert r.json() == {"limit": 2, "window": 3600.0, "mode": "fixed", "retry_after": True}
    assert [_profile(mock_exist).status_code for _ in range(2)] == [200, 200]
    refused = _profile(mock_exist)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "60"
    mock_exist.state.set_clock(advance=60)  # 11:00: a new window
    assert _profile(mock_exist).status_code == 200


def test_sliding_window_still_refuses_at_the_top_of_the_hour(mock_exist):
    mock_exist.state.set_clock("2024-05-01T10:59:00+00:00")
    mock_exist.state.set_rate_limit(2)
    assert [_profile(mock_exist).status_code for _ in range(2)] == [200, 200]
    assert _profile(mock_exist).headers["Retry-After"] == "3600"
    mock_exist.state.set_clock(advance=60)
    assert _profile(mock_exist).status_code == 429


def test_429_without_retry_after(mock_exist):
    requests.post(
        f"{mock_exist.url}/_mock/rate-limit", timeout=10, json={"limit": 1, "retry_after": False}
    )
    assert _profile(mock_exist).status_code == 200
    refused = _profile(mock_exist)
    assert refused.status_code == 429 and "Retry-After" not in refused.headers
    assert "throttled" in refused.json()["detail"]


def test_rate_limit_state_per_token(mock_exist):
    mock_exist.state.set_clock("2024-05-01T10:00:00+00:00")
    mock_exist.state.set_rate_limit(3)
    for _ in range(3):
        _profile(mock_exist)
    r = requests.get(f"{mock_exist.url}/_mock/rate-limit", timeout=10).json()
    assert (r["limit"], r["mode"]) == (3, "sliding")
    [token] = r["tokens"]
    assert (token["token"], token["username"], token["used"], token["remaining"]) == (
        mock_exist.token,
        "mock",
        3,
        0,
    )
    assert token["resets_in"] == 3600


def test_cli_flags_set_the_rate_limit_mode_and_header():
    from mock_exist.cli import build_parser

    args = build_parser().parse_args(["--rate-mode", "fixed", "--no-retry-after"])
    assert (args.rate_mode, args.no_retry_after) == ("fixed", True)
    with MockServer({"rate_limit": 1, "rate_mode": "fixed", "retry_after": False}) as server:
        assert _profile(server).status_code == 200
        refused = _profile(server)
        assert refused.status_code == 429 and "Retry-After" not in refused.headers
