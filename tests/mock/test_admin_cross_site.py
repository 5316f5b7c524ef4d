"""The /_mock/ control API refuses state-changing calls from other sites (a web page POSTing to
127.0.0.1), and the dashboard's ``?admin_token=`` never stays in the URL or the access log
(issue 16 review, items 2 and 3). Real HTTP."""

from __future__ import annotations

import logging

import pytest
import requests

from mock_exist.server import MockServer

EVIL = "http://evil.example"


def _users(mock_exist) -> list[str]:
    return sorted(requests.get(f"{mock_exist.url}/_mock/state", timeout=10).json()["users"])


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": EVIL},
        {"Origin": "null"},
        {"Referer": f"{EVIL}/page.html"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "http://127.0.0.1.evil.example"},
    ],
    ids=["origin", "null-origin", "referer", "sec-fetch-site", "lookalike"],
)
def test_a_cross_site_reset_is_refused_and_changes_nothing(mock_exist, headers):
    mock_exist.state.add_user("alice")
    r = requests.post(f"{mock_exist.url}/_mock/reset", headers=headers, timeout=10)
    assert r.status_code == 403, r.text
    assert "cross-site" in r.json()["detail"]
    assert _users(mock_exist) == ["alice", "mock"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/_mock/clock", {"advance": 60}),
        ("POST", "/_mock/users", {"username": "eve"}),
        ("POST", "/_mock/tokens", {}),
        ("POST", "/_mock/faults", {"path": "/api/2/*"}),
        ("DELETE", "/_mock/faults", None),
        ("POST", "/_mock/rate-limit", {"limit": 0}),
        ("POST", "/_mock/state/save", None),
        ("PUT", "/_mock/state", {}),
    ],
)
def test_every_state_changing_control_call_refuses_another_origin(mock_exist, method, path, body):
    before = requests.get(f"{mock_exist.url}/_mock/state", timeout=10).json()
    r = requests.request(
        method, mock_exist.url + path, json=body, timeout=10, headers={"Origin": EVIL}
    )
    assert r.status_code == 403, r.text
    after = requests.get(f"{mock_exist.url}/_mock/state", timeout=10).json()
    assert after["users"] == before["users"] and after["faults"] == before["faults"]
    assert after["config"] == before["config"]


def test_same_origin_and_no_origin_calls_still_work(mock_exist):
    mock_exist.state.add_user("alice")
    own = requests.post(
        f"{mock_exist.url}/_mock/clock",
        json={"advance": 60},
        timeout=10,
        headers={
            "Origin": mock_exist.url,
            "Referer": f"{mock_exist.url}/_mock/",
            "Sec-Fetch-Site": "same-origin",
        },
    )
    assert own.status_code == 200, own.text
    shell = requests.post(f"{mock_exist.url}/_mock/reset", timeout=10)  # curl -XPOST: no Origin
    assert shell.status_code == 200, shell.text
    assert _users(mock_exist) == ["mock"]


def test_reads_are_not_refused_for_another_origin(mock_exist):
    # a browser won't let the other page read the answer (no CORS headers); a GET changes nothing
    r = requests.get(f"{mock_exist.url}/_mock/clock", headers={"Origin": EVIL}, timeout=10)
    assert r.status_code == 200
    assert "Access-Control-Allow-Origin" not in r.headers


def test_admin_token_in_the_url_becomes_a_cookie_then_a_redirect_and_is_not_logged(caplog):
    caplog.set_level(logging.INFO, logger="mock_exist.access")
    with MockServer({"admin_token": "s3cret-value"}) as server:
        session = requests.Session()
        r = session.get(
            f"{server.url}/_mock/",
            params={"admin_token": "s3cret-value", "status": "4xx"},
            allow_redirects=False,
            timeout=10,
        )
        assert r.status_code == 303, r.text
        assert r.headers["Location"] in ("/_mock/?status=4xx", f"{server.url}/_mock/?status=4xx")
        assert "mock_admin_token" in session.cookies.get_dict()
        page = session.get(f"{server.url}/_mock/", timeout=10)
        assert page.status_code == 200
        wrong = requests.get(
            f"{server.url}/_mock/",
            params={"admin_token": "nope-value"},
            allow_redirects=False,
            timeout=10,
        )
        assert wrong.status_code == 401
    logged = caplog.text
    assert "GET /_mock/" in logged
    assert "s3cret-value" not in logged and "nope-value" not in logged
    assert "admin_token=REDACTED" in logged
