"""Issue 16 (2): state that persists: ``--state FILE``, ``GET``/``PUT /_mock/state``, the format."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone

import pytest
import requests

from mock_exist import MockExist
from mock_exist.control.state_file import FORMAT, VERSION
from mock_exist.server import MockServer

from ..support.mock_cli import start_mock, stop_mock

TOKEN = "0123456789abcdef0123456789abcdef01234567"
FROZEN = "2025-06-15T10:30:00+00:00"


def _populate(base: str, token: str) -> str:
    """Over HTTP only: writes, a second user with a client and a token of its own, a frozen
    clock. Returns that token."""
    headers = {"Authorization": f"Bearer {token}"}
    api = f"{base}/api/2/attributes"
    assert (
        requests.post(
            f"{api}/acquire/", json=[{"template": "steps"}], headers=headers, timeout=10
        ).status_code
        == 200
    )
    assert (
        requests.post(
            f"{api}/update/",
            headers=headers,
            timeout=10,
            json=[
                {"name": "steps", "date": "2025-06-14", "value": 4321},
                {"name": "steps", "date": "2025-06-15", "value": 99},
            ],
        ).status_code
        == 200
    )
    admin = f"{base}/_mock"
    assert (
        requests.post(
            f"{admin}/users", json={"username": "bob", "timezone": "Asia/Tokyo"}, timeout=10
        ).status_code
        == 201
    )
    assert (
        requests.post(
            f"{admin}/clients",
            timeout=10,
            json={
                "client_id": "app2",
                "client_secret": "s3cret",
                "redirect_uris": ["http://localhost:1/"],
                "label": "App two",
                "username": "bob",
            },
        ).status_code
        == 201
    )
    bob = requests.post(
        f"{admin}/tokens",
        timeout=10,
        json={"username": "bob", "client_id": "app2", "scopes": ["custom_read", "custom_write"]},
    ).json()
    bob_headers = {"Authorization": f"Bearer {bob['access_token']}"}
    r = requests.post(
        f"{api}/create/",
        headers=bob_headers,
        timeout=10,
        json=[{"label": "Pages read", "group": "custom", "value_type": 0}],
    )
    assert r.status_code == 200, r.text
    assert (
        requests.post(
            f"{api}/update/",
            headers=bob_headers,
            timeout=10,
            json=[{"name": "pages_read", "date": "2025-06-01", "value": 12}],
        ).status_code
        == 200
    )
    assert (
        requests.post(
            f"{admin}/clock", json={"now": FROZEN, "frozen": True}, timeout=10
        ).status_code
        == 200
    )
    return bob["access_token"]


def test_dump_is_a_versioned_document_and_load_gives_the_same_state():
    with MockServer({"token": TOKEN}) as server:
        _populate(server.url, server.token)
        document = server.state.dump()
    assert (document["format"], document["version"]) == (FORMAT, VERSION)
    assert json.loads(json.dumps(document)) == document  # plain JSON
    fresh = MockExist()
    fresh.load_state(document)
    assert fresh.dump() == document
    assert fresh.values("steps") == {"2025-06-14": 4321, "2025-06-15": 99}
    assert fresh.values("pages_read", "bob") == {"2025-06-01": 12}
    assert fresh.attribute("pages_read", "bob")["service"]["name"] == "app_two"
    assert fresh.clock.now() == datetime(2025, 6, 15, 10, 30, tzinfo=timezone.utc)


def test_put_state_replaces_everything_and_get_reads_it_back(mock_exist):
    with MockServer({"token": TOKEN}) as source:
        bob_token = _populate(source.url, source.token)
        document = requests.get(f"{source.url}/_mock/state", timeout=10).json()
    r = requests.put(f"{mock_exist.url}/_mock/state", json=document, timeout=10)
    assert r.status_code == 200, r.text
    assert requests.get(f"{mock_exist.url}/_mock/state", timeout=10).json() == document
    r = requests.get(
        f"{mock_exist.url}/api/2/attributes/values/",
        params={"attribute": "steps"},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    assert [v["value"] for v in r.json()["results"][:2]] == [99, 4321]
    r = requests.get(
        f"{mock_exist.url}/api/2/accounts/profile/",
        timeout=10,
        headers={"Authorization": f"Bearer {bob_token}"},
    )
    assert r.json()["username"] == "bob" and r.json()["timezone"] == "Asia/Tokyo"
    assert mock_exist.state.token == TOKEN  # the loaded default user's token


@pytest.mark.parametrize(
    "change, field",
    [
        (lambda d: d.update(version=2), "version"),
        (lambda d: d.update(format="other"), "format"),
        (
            lambda d: d["users"]["mock"]["attributes"]["steps"]["values"].update({"2025-1-1": 1}),
            "users.mock.attributes.steps.values.2025-1-1",
        ),
        (
            lambda d: d["users"]["mock"]["attributes"]["steps"]["values"].update(
                {"2025-01-01": 1.5}
            ),
            "users.mock.attributes.steps.values.2025-01-01",
        ),
        (lambda d: d["tokens"][0].update(client_id="nobody"), "tokens.0.client_id"),
        (lambda d: d["clients"][0].update(username="nobody"), "clients.0.username"),
        (lambda d: d["clock"].update(now="yesterday", frozen=True, offset=None), "clock.now"),
        (lambda d: d["config"].update(rate_mode="lazy"), "config.rate_mode"),
        (lambda d: d["users"]["mock"].update(timezone="Mars/Olympus"), "users.mock.timezone"),
        (lambda d: d.update(extra=1), "state"),
    ],
)
def test_a_bad_state_document_is_a_400_naming_the_field_and_changes_nothing(
    mock_exist, change, field
):
    headers = {"Authorization": f"Bearer {mock_exist.token}"}
    requests.post(
        f"{mock_exist.url}/api/2/attributes/acquire/",
        json=[{"template": "steps"}],
        headers=headers,
        timeout=10,
    )
    mock_exist.state.set_clock(FROZEN)
    before = requests.get(f"{mock_exist.url}/_mock/state", timeout=10).json()
    document = json.loads(json.dumps(before))
    change(document)
    r = requests.put(f"{mock_exist.url}/_mock/state", json=document, timeout=10)
    assert r.status_code == 400, r.text
    assert r.json()["detail"].startswith(field + ":"), r.json()
    assert requests.get(f"{mock_exist.url}/_mock/state", timeout=10).json() == before


def test_save_on_demand_writes_the_state_file(tmp_path):
    path = tmp_path / "state.json"
    with MockServer({"token": TOKEN, "state_file": str(path)}) as server:
        _populate(server.url, server.token)
        r = requests.post(f"{server.url}/_mock/state/save", timeout=10)
        assert r.status_code == 200 and r.json() == {"saved": str(path)}
        assert json.loads(path.read_text()) == server.state.dump()
    with MockServer({"token": TOKEN}) as server:  # without a state file: a clear 400
        r = requests.post(f"{server.url}/_mock/state/save", timeout=10)
        assert r.status_code == 400 and "state file" in r.json()["detail"]


def test_a_running_clock_keeps_its_offset_from_the_wall_clock():
    mock = MockExist()
    mock.clock.advance(86400 * 30)  # running, 30 days ahead
    document = mock.dump()
    assert document["clock"]["frozen"] is False
    other = MockExist()
    other.load_state(document)
    assert abs(other.clock.offset - 86400 * 30) < 5
    assert not other.clock.frozen


# ------------------------------------------------------------------ the command line


def test_state_file_round_trips_through_stop_and_start(tmp_path):
    path = tmp_path / "demo.json"
    proc, port, lines = start_mock("--token", TOKEN, "--state", str(path))
    try:
        assert any("saved on exit" in line for line in lines)
        base = f"http://127.0.0.1:{port}"
        bob_token = _populate(base, TOKEN)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        requests.post(
            f"{base}/api/2/attributes/increment/",
            headers=headers,
            json=[{"name": "steps", "date": "2025-06-15", "value": 1}],
            timeout=10,
        )
        saved_view = requests.get(f"{base}/_mock/state", timeout=10).json()
    finally:
        out, err = stop_mock(proc)
    assert proc.returncode == 0, err
    assert f"state saved to {path}" in out
    assert json.loads(path.read_text()) == saved_view

    proc, port, lines = start_mock("--state", str(path))  # no --token: the saved one is used
    try:
        assert any(f"loaded from {path}" in line for line in lines)
        assert any(TOKEN in line for line in lines)
        base = f"http://127.0.0.1:{port}"
        r = requests.get(
            f"{base}/api/2/attributes/with-values/",
            params={"days": 2},
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        )
        steps = next(a for a in r.json()["results"] if a["name"] == "steps")
        assert [v["value"] for v in steps["values"]] == [100, 4321]
        assert steps["service"]["name"] == "mock_client"
        r = requests.get(
            f"{base}/api/2/attributes/owned/",
            timeout=10,
            headers={"Authorization": f"Bearer {bob_token}"},
        )
        assert [a["name"] for a in r.json()["results"]] == ["pages_read"]
        assert requests.get(f"{base}/_mock/clock", timeout=10).json() == {
            "now": FROZEN,
            "frozen": True,
        }
    finally:
        out, err = stop_mock(proc)
    assert proc.returncode == 0, err


def test_an_unreadable_state_file_is_a_one_line_error(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"format": "mock-exist-state", "version": 1, "users": {"x": 1}}')
    done = subprocess.run(
        [sys.executable, "-m", "mock_exist.cli", "--state", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert f"cannot load state file {path}: users.x: must be an object" in done.stderr
    assert "Traceback" not in done.stderr
