"""Issue 11, mock side: hostile or careless input never gets a 500 nor leaves the mock broken.

Deep JSON, out-of-range numbers, wrong-typed control-API input, oversized bodies and the
journal's memory, all over real HTTP (the ``mock_exist`` fixture).
"""

from __future__ import annotations

import json

import pytest
import requests

from mock_exist.server import MockServer

DEEP = "[" * 1000 + "]" * 1000
JSON = {"Content-Type": "application/json"}


def admin(mock_exist, method_: str, path_: str, body: object = None) -> requests.Response:
    return requests.request(
        method_,
        f"{mock_exist.url}/_mock/{path_}",
        data=json.dumps(body),
        headers=JSON,
        timeout=10,
    )


def frozen_dump(mock_exist) -> dict:
    r = requests.get(f"{mock_exist.url}/_mock/state", timeout=10)
    assert r.status_code == 200
    return r.json()


@pytest.fixture
def frozen(mock_exist):
    """The clock frozen, so two state dumps of an unchanged mock are equal."""
    r = admin(mock_exist, "POST", "clock", {"now": "2024-03-01T12:00:00+00:00", "frozen": True})
    assert r.status_code == 200
    return mock_exist


# ------------------------------------------------------------------ 9: deep JSON


@pytest.mark.parametrize("auth", [True, False])
@pytest.mark.parametrize(
    "path", ["attributes/update/", "attributes/increment/", "auth/simple-token/"]
)
def test_deep_json_is_a_400_or_401_never_a_500(mock_exist, auth, path):
    headers = dict(JSON)
    if auth:
        headers["Authorization"] = f"Bearer {mock_exist.token}"
    r = requests.post(f"{mock_exist.url}/api/2/{path}", data=DEEP, headers=headers, timeout=10)
    assert r.status_code in (400, 401), r.text
    assert "detail" in r.json() or "non_field_errors" in r.json()


def test_deep_json_to_the_control_api_is_a_400(frozen):
    before = frozen_dump(frozen)
    r = requests.post(f"{frozen.url}/_mock/faults", data=DEEP, headers=JSON, timeout=10)
    assert r.status_code == 400 and "detail" in r.json()
    assert frozen_dump(frozen) == before


# ------------------------------------------------------------------ 10: out-of-range numbers


def _write(mock_exist, endpoint: str, value_json: str, date: str = "2024-01-01"):
    body = f'[{{"name": "c", "date": "{date}", "value": {value_json}}}]'
    return requests.post(
        f"{mock_exist.url}/api/2/attributes/{endpoint}/",
        data=body,
        headers={**JSON, "Authorization": f"Bearer {mock_exist.token}"},
        timeout=10,
    )


@pytest.mark.parametrize(
    "value",
    [
        "9" * 4300,
        "-" + "9" * 4300,
        str(2**31),
        str(-(2**31) - 1),
        str(2**63),
        "9" * 4301,
        "-" + "9" * 100_000,
    ],
)
def test_huge_integer_is_a_failed_validation_item_and_nothing_breaks(mock_exist, value):
    mock_exist.state.seed_attribute("c", value_type=0, owner="mock_client")
    r = _write(mock_exist, "update", value)
    assert r.status_code == 202, r.text[:200]
    assert r.json()["failed"][0]["error_code"] == "validation"
    assert mock_exist.state.value("c", "2024-01-01") is None
    for path in ("_mock/state", "_mock/ledger", "_mock/journal"):
        assert requests.get(f"{mock_exist.url}/{path}", timeout=10).status_code == 200
    r = requests.get(
        f"{mock_exist.url}/api/2/attributes/values/",
        params={"attribute": "c"},
        headers={"Authorization": f"Bearer {mock_exist.token}"},
        timeout=10,
    )
    assert r.status_code == 200


def test_integer_bounds_are_signed_32_bit(mock_exist):
    mock_exist.state.seed_attribute("c", value_type=0, owner="mock_client")
    assert _write(mock_exist, "update", str(2**31 - 1)).status_code == 200
    assert _write(mock_exist, "update", str(-(2**31)), "2024-01-02").status_code == 200


def test_increment_past_the_integer_range_is_refused(mock_exist):
    mock_exist.state.seed_attribute("c", value_type=0, owner="mock_client")
    assert _write(mock_exist, "update", str(2**31 - 2)).status_code == 200
    assert _write(mock_exist, "increment", "1").status_code == 200
    r = _write(mock_exist, "increment", "1")
    assert r.status_code == 202 and r.json()["failed"][0]["error_code"] == "validation"
    assert mock_exist.state.value("c", "2024-01-01") == 2**31 - 1


def test_decimal_increment_to_infinity_is_refused(mock_exist):
    mock_exist.state.seed_attribute("c", value_type=1, owner="mock_client")
    assert _write(mock_exist, "update", "1.5e308").status_code == 200
    r = _write(mock_exist, "increment", "1.5e308")
    assert r.status_code == 202 and r.json()["failed"][0]["error_code"] == "validation"
    assert mock_exist.state.value("c", "2024-01-01") == 1.5e308
    assert requests.get(f"{mock_exist.url}/_mock/state", timeout=10).status_code == 200


# ------------------------------------------------------------------ 11: the control API


def test_rate_limit_zero_throttles_every_request(mock_exist):
    r = admin(mock_exist, "POST", "rate-limit", {"limit": 0})
    assert r.status_code == 200 and r.json()["limit"] == 0
    r = requests.get(
        f"{mock_exist.url}/api/2/accounts/profile/",
        headers={"Authorization": f"Bearer {mock_exist.token}"},
        timeout=10,
    )
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
    assert requests.get(f"{mock_exist.url}/_mock/state", timeout=10).status_code == 200


@pytest.mark.parametrize(
    "path, body, field",
    [
        ("rate-limit", {"limit": None}, "limit"),
        ("rate-limit", {"limit": "5"}, "limit"),
        ("rate-limit", {"limit": -1}, "limit"),
        ("rate-limit", {"limit": 5, "window": 0}, "window"),
        ("rate-limit", {"limit": 5, "window": 1e20}, "window"),
        ("clock", {"advance": 1e20}, "advance"),
        ("clock", {"now": "8999-12-31T00:00:00+00:00", "advance": 400 * 86400}, "advance"),
        ("faults", {"path": None}, "path"),
        ("faults", {"path": "/x", "status": "500"}, "status"),
        ("faults", {"path": "/x", "latency": 1e300}, "latency"),
        ("tokens", {"expires_in": 10**400}, "expires_in"),
        ("attributes", {"name": "zz", "value_type": 99}, "value_type"),
        ("attributes", {"name": "zz", "values": {"2024-01-01": 10**400}}, "values"),
        ("users", {"username": "bob", "timezone": "Mars/Olympus"}, "timezone"),
    ],
)
def test_bad_control_input_is_a_400_naming_the_field_and_changes_nothing(frozen, path, body, field):
    before = frozen_dump(frozen)
    r = admin(frozen, "POST", path, body)
    assert r.status_code == 400, r.text
    assert field in r.json()["detail"]
    assert frozen_dump(frozen) == before


BUG = "Internal server error in mock_exist"  # the mock's answer to an unexpected exception
WRONG_VALUES = [None, True, "x", "", "500", -1, 0, 1.5, 10**400, 1e300, [], {}, ["a"], {"a": 1}]
ENDPOINTS = {
    "users": {
        "username": "bob",
        "timezone": "UTC",
        "password": "p",
        "first_name": "B",
        "last_name": "C",
    },
    "users/mock/timezone": {"timezone": "Europe/Paris"},
    "clients": {
        "client_id": "c2",
        "client_secret": "s",
        "redirect_uris": ["http://x/"],
        "name": "n",
        "label": "l",
        "username": "mock",
    },
    "tokens": {
        "username": "mock",
        "client_id": "mock_client",
        "scopes": ["mood_read"],
        "expires_in": 60,
        "access_token": "b" * 40,
    },
    "clock": {"now": "2024-01-01T00:00:00+00:00", "frozen": True, "advance": 1, "resume": False},
    "faults": {
        "path": "/api/2/*",
        "status": 503,
        "count": 1,
        "method": "GET",
        "mode": "status",
        "latency": 0,
    },
    "rate-limit": {"limit": 5, "window": 60},
    "attributes": {
        "name": "zz",
        "username": "mock",
        "template": None,
        "label": "Z",
        "group": "custom",
        "value_type": 0,
        "manual": True,
        "owner": None,
        "values": {"2024-01-01": 1},
    },
}


@pytest.mark.slow
@pytest.mark.parametrize("path", sorted(ENDPOINTS))
def test_fuzz_every_control_endpoint_with_wrong_typed_values(path):
    """Each field of each endpoint gets each wrong value: never a 500; a 400 changes nothing."""
    with MockServer({"clock_start": None}) as server:
        requests.post(
            f"{server.url}/_mock/clock", json={"now": "2024-03-01T12:00:00+00:00"}, timeout=10
        )
        for key in ENDPOINTS[path]:
            for wrong in WRONG_VALUES:
                body = {**ENDPOINTS[path], key: wrong}
                before = requests.get(f"{server.url}/_mock/state", timeout=10).json()
                r = requests.post(
                    f"{server.url}/_mock/{path}", data=json.dumps(body), headers=JSON, timeout=10
                )
                where = f"POST /_mock/{path} {key}={wrong!r:.40}"
                assert r.status_code < 500, f"{where}: {r.status_code} {r.text[:200]}"
                after = requests.get(f"{server.url}/_mock/state", timeout=10)
                assert after.status_code == 200, where
                probe = requests.get(
                    f"{server.url}/api/2/accounts/profile/",
                    timeout=10,
                    headers={"Authorization": f"Bearer {server.token}"},
                )
                assert BUG not in probe.text, f"{where}: then {probe.status_code} {probe.text}"
                if r.status_code == 400:
                    assert isinstance(r.json().get("detail"), str), where
                    assert after.json() == before, f"{where}: half-applied"
                requests.post(f"{server.url}/_mock/reset", timeout=10)
                requests.post(
                    f"{server.url}/_mock/clock",
                    json={"now": "2024-03-01T12:00:00+00:00"},
                    timeout=10,
                )
        for wrong in WRONG_VALUES:  # a body that is not an object at all
            r = requests.post(
                f"{server.url}/_mock/{path}", data=json.dumps([wrong]), headers=JSON, timeout=10
            )
            assert r.status_code == 400, f"POST /_mock/{path} [{wrong!r:.40}]"


# ------------------------------------------------------------------ 12: memory


def test_body_over_the_limit_is_413_even_unauthenticated(mock_exist):
    big = "[" + ",".join(['{"name": "c", "date": "2024-01-01", "value": 1}'] * 30_000) + "]"
    assert len(big) > 1024 * 1024
    for headers in (
        JSON,
        {**JSON, "Authorization": f"Bearer {mock_exist.token}"},
        {**JSON, "Authorization": "Bearer " + "0" * 40},
    ):
        r = requests.post(
            f"{mock_exist.url}/api/2/attributes/update/", data=big, headers=headers, timeout=30
        )
        assert r.status_code == 413, r.text[:200]
        assert "1048576" in r.json()["detail"]
    journal = mock_exist.state.journal("/api/2/attributes/update/")
    assert [e["status"] for e in journal] == [413, 413, 413]
    assert all(e["body"] is None for e in journal)


def test_journal_keeps_small_bodies_and_truncates_large_ones(mock_exist):
    small = [{"name": "c", "date": "2024-01-01", "value": 1}]
    bad = {**JSON, "Authorization": "Bearer " + "0" * 40}
    requests.post(f"{mock_exist.url}/api/2/attributes/update/", json=small, headers=bad, timeout=10)
    large = json.dumps([{"name": "c" * 200_000, "date": "2024-01-01", "value": 1}])
    for _ in range(5):
        r = requests.post(
            f"{mock_exist.url}/api/2/attributes/update/", data=large, headers=bad, timeout=10
        )
        assert r.status_code == 401
    entries = requests.get(f"{mock_exist.url}/_mock/journal", timeout=10)
    assert len(entries.content) < 100_000  # 5 x 200 kB bodies are not kept
    first, *rest = entries.json()
    assert first["body"] == small and first["truncated"] is False
    assert all(e["body"] is None and e["truncated"] and e["body_bytes"] == len(large) for e in rest)


def test_journal_is_capped_in_bytes_dropping_the_oldest():
    with MockServer({"journal_bytes": 200_000}) as server:
        bad = {**JSON, "Authorization": "Bearer " + "0" * 40}
        body = json.dumps([{"name": "c" * 20_000, "date": "2024-01-01", "value": 1}])
        for _ in range(40):
            requests.post(
                f"{server.url}/api/2/attributes/update/", data=body, headers=bad, timeout=10
            )
        entries = server.state.journal()
        kept = sum(len(json.dumps(e["body"])) for e in entries)
        assert kept <= 200_000
        assert 0 < len(entries) < 40 and entries[-1]["id"] == 40


def test_openapi_documents_413_on_every_post_and_the_app_answers_it():
    from importlib import resources

    from mock_exist import create_app

    document = json.loads(
        resources.files("mock_exist.http").joinpath("openapi.json").read_text(encoding="utf-8")
    )
    client = create_app({"max_body_bytes": 10}).test_client()
    posts = [path for path, item in document["paths"].items() if "post" in item]
    assert posts
    for path in posts:
        assert "413" in document["paths"][path]["post"]["responses"], path
        r = client.post(path, data="[" + " " * 20 + "]", content_type="application/json")
        assert r.status_code == 413 and "10 bytes" in r.get_json()["detail"], path
