"""The /_mock/ control API: reset, state, clock, faults, journal, ledger, users/clients/tokens."""

from __future__ import annotations

import time

import pytest
import requests

from ..support.exist_api import Api


def admin(mock_exist, method_: str, path_: str, **json: object) -> requests.Response:
    return requests.request(
        method_, f"{mock_exist.url}/_mock/{path_}", json=json or None, timeout=10
    )


def test_reset_restores_a_fresh_instance_with_the_same_token(mock_exist, api):
    api.post("attributes/acquire/", [{"template": "steps"}])
    assert admin(mock_exist, "POST", "reset").json()["token"] == mock_exist.token
    assert mock_exist.state.attribute("steps") is None
    assert api.get("accounts/profile/").status_code == 200


def test_state_dump_shows_users_attributes_values_and_clients(mock_exist, api):
    api.post("attributes/acquire/", [{"template": "steps"}])
    api.post("attributes/update/", [{"name": "steps", "date": "2024-01-01", "value": 5}])
    dump = admin(mock_exist, "GET", "state").json()
    assert dump["users"]["mock"]["attributes"]["steps"]["values"] == {"2024-01-01": 5}
    assert [c["client_id"] for c in dump["clients"]] == ["mock_client"]
    assert dump["config"]["max_items"] == 35


def test_users_clients_and_tokens_over_http(mock_exist):
    assert (
        admin(mock_exist, "POST", "users", username="bob", timezone="Asia/Tokyo").status_code == 201
    )
    r = admin(
        mock_exist,
        "POST",
        "clients",
        client_id="app2",
        client_secret="s",
        redirect_uris=["http://localhost:1/"],
        label="App two",
        username="bob",
    )
    assert r.status_code == 201 and r.json()["name"] == "app_two"
    r = admin(
        mock_exist,
        "POST",
        "tokens",
        username="bob",
        client_id="app2",
        scopes="activity_read,activity_write",
    )
    token = r.json()["access_token"]
    bob = Api(mock_exist.url, token)
    assert bob.get("accounts/profile/").json()["timezone"] == "Asia/Tokyo"
    assert bob.post("attributes/acquire/", [{"template": "steps"}]).status_code == 200
    assert mock_exist.state.attribute("steps", username="bob")["service"]["label"] == "App two"


@pytest.mark.parametrize(
    "path,body",
    [
        ("users", {"username": "mock"}),
        ("users", {"username": "x", "timezone": "Mars/Base"}),
        ("tokens", {"client_id": "nobody"}),
        ("tokens", {"scopes": ["root"]}),
        ("clients", {"bogus": 1}),
        ("faults", {"path": "/x", "mode": "explode"}),
        ("clock", {"now": "soon"}),
        ("clock", {"advance": "1h"}),
    ],
)
def test_bad_control_calls_are_400_not_500(mock_exist, path, body):
    r = admin(mock_exist, "POST", path, **body)
    assert r.status_code == 400 and "detail" in r.json()


def test_clock_set_and_advance_drive_today(mock_exist, api):
    r = admin(mock_exist, "POST", "clock", now="2024-12-31T23:59:00+00:00")
    assert r.json() == {"now": "2024-12-31T23:59:00+00:00", "frozen": True}
    api.post("attributes/acquire/", [{"template": "coffees"}])
    api.post("attributes/increment/", [{"name": "coffees", "value": 1}])
    admin(mock_exist, "POST", "clock", advance=120)
    api.post("attributes/increment/", [{"name": "coffees", "value": 1}])
    assert mock_exist.state.values("coffees") == {"2024-12-31": 1, "2025-01-01": 1}


def test_status_fault_fails_the_next_n_matching_requests_without_applying(mock_exist, api):
    api.post("attributes/acquire/", [{"template": "steps"}])
    rule = admin(
        mock_exist, "POST", "faults", path="/api/2/attributes/update/", status=503, count=2
    ).json()
    assert rule["mode"] == "status"
    item = [{"name": "steps", "date": "2024-01-01", "value": 5}]
    assert [api.post("attributes/update/", item).status_code for _ in range(3)] == [503, 503, 200]
    assert len(mock_exist.state.ledger()) == 1
    [spent] = admin(mock_exist, "GET", "faults").json()  # still listed, with its counts
    assert (spent["fired"], spent["matched"], spent["active"]) == (2, 2, False)


def test_apply_then_fail_applies_the_write_but_answers_an_error(mock_exist, api):
    api.post("attributes/acquire/", [{"template": "coffees"}])
    mock_exist.state.add_fault("/api/2/attributes/increment/", status=502, mode="apply_then_fail")
    r = api.post("attributes/increment/", [{"name": "coffees", "date": "2024-01-01", "value": 1}])
    assert r.status_code == 502
    assert "current" not in r.text
    assert mock_exist.state.value("coffees", "2024-01-01") == 1
    assert [e["op"] for e in mock_exist.state.ledger()] == ["increment"]
    journal = mock_exist.state.journal("/api/2/attributes/increment/")
    assert [(e["status"], e["fault"]) for e in journal] == [(502, "apply_then_fail")]


def test_fault_globs_methods_and_latency(mock_exist, api):
    mock_exist.state.add_fault("/api/2/attributes/*", status=500, method="GET", count=None)
    assert api.get("attributes/").status_code == 500
    assert api.get("attributes/owned/").status_code == 500
    assert api.post("attributes/acquire/", [{"template": "steps"}]).status_code == 200
    admin(mock_exist, "DELETE", "faults")
    mock_exist.state.add_fault("/api/2/accounts/profile/", mode="latency", latency=0.3)
    start = time.monotonic()
    assert api.get("accounts/profile/").status_code == 200
    assert time.monotonic() - start >= 0.3


def test_journal_records_requests_with_user_client_and_item_counts(mock_exist, api):
    api.post("attributes/acquire/", [{"template": "steps"}, {"template": "mood"}])
    api.get("attributes/", limit=1)
    entries = admin(mock_exist, "GET", "journal").json()
    assert [(e["method"], e["path"], e["status"]) for e in entries] == [
        ("POST", "/api/2/attributes/acquire/", 200),
        ("GET", "/api/2/attributes/", 200),
    ]
    assert entries[0]["items"] == 2 and entries[0]["client_id"] == "mock_client"
    assert entries[1]["query"] == "limit=1"


def test_ledger_filters_and_links_changes_to_requests(mock_exist, api):
    api.post("attributes/acquire/", [{"template": "coffees"}, {"template": "steps"}])
    api.post(
        "attributes/increment/",
        [
            {"name": "coffees", "date": "2024-01-01", "value": 2},
            {"name": "steps", "date": "2024-01-02", "value": 10},
        ],
    )
    entries = admin(mock_exist, "GET", "ledger?attribute=coffees").json()
    assert len(entries) == 1
    e = entries[0]
    assert (e["op"], e["value"], e["before"], e["after"], e["date"]) == (
        "increment",
        2,
        None,
        2,
        "2024-01-01",
    )
    request_ids = {j["id"] for j in mock_exist.state.journal("/api/2/attributes/increment/")}
    assert e["request_id"] in request_ids


def test_rate_limit_over_http(mock_exist, api):
    admin(mock_exist, "POST", "rate-limit", limit=1)
    assert api.get("accounts/profile/").status_code == 200
    assert api.get("accounts/profile/").status_code == 429


def test_seed_attribute_owned_by_another_service(mock_exist, api):
    mock_exist.state.add_client("fitbit", "x", label="Fitbit")
    r = admin(
        mock_exist,
        "POST",
        "attributes",
        name="steps",
        template="steps",
        owner="fitbit",
        values={"2024-01-01": 1234},
        manual=False,
    )
    assert r.status_code == 201 and r.json()["service"]["name"] == "fitbit"
    r = api.post("attributes/update/", [{"name": "steps", "date": "2024-01-01", "value": 1}])
    assert r.json()["failed"][0]["error_code"] == "unauthorised"
    values = api.get("attributes/values/", attribute="steps", date_max="2024-01-02").json()
    assert values["results"] == [
        {"date": "2024-01-02", "value": None},
        {"date": "2024-01-01", "value": 1234},
    ]


@pytest.mark.parametrize("mock_exist_config", [{"admin": False}])
def test_admin_api_can_be_disabled(mock_exist):
    assert admin(mock_exist, "POST", "reset").status_code == 404


def test_slow_response_applies_first_then_answers_late(mock_exist, api):
    api.post("attributes/acquire/", [{"template": "coffees"}])
    mock_exist.state.add_fault("/api/2/attributes/increment/", mode="slow_response", latency=2)
    item = [{"name": "coffees", "date": "2024-01-01", "value": 1}]
    with pytest.raises(requests.Timeout):
        api.session.post(f"{mock_exist.url}/api/2/attributes/increment/", json=item, timeout=0.5)
    assert mock_exist.state.value("coffees", "2024-01-01") == 1  # applied before the answer
