"""Whole-request errors, scopes, the rate limit, several users, and the read endpoints."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import requests

from ..support.exist_api import Api

READ_PATHS = [
    "accounts/profile/",
    "attributes/",
    "attributes/owned/",
    "attributes/with-values/",
    "attributes/templates/",
    "averages/",
    "correlations/",
    "insights/",
]


def acquire(api, *templates: str) -> None:
    r = api.post("attributes/acquire/", [{"template": t, "manual": False} for t in templates])
    assert r.status_code == 200, r.text


# ------------------------------------------------------------------ 401 / 403 / 404 / 405


@pytest.mark.parametrize("path", READ_PATHS)
def test_missing_token_is_401(mock_exist, path):
    r = requests.get(f"{mock_exist.url}/api/2/{path}", timeout=10)
    assert r.status_code == 401
    assert r.json() == {"detail": "Authentication credentials were not provided."}


def test_invalid_token_is_401(mock_exist):
    r = Api(mock_exist.url, "0" * 40).get("accounts/profile/")
    assert r.status_code == 401 and r.json() == {"detail": "Invalid token"}


def test_expired_token_is_401(mock_exist, make_api):
    api = make_api(expires_in=60)
    assert api.get("accounts/profile/").status_code == 200
    mock_exist.state.clock.advance(61)
    r = api.get("accounts/profile/")
    assert r.status_code == 401 and r.json() == {"detail": "Token has expired"}


def test_bearer_token_sent_with_token_scheme_is_401(mock_exist):
    r = Api(mock_exist.url, mock_exist.token, scheme="Token").get("accounts/profile/")
    assert r.status_code == 401


def simple_token(mock_exist) -> str:
    r = requests.post(
        f"{mock_exist.url}/api/2/auth/simple-token/",
        data={"username": "mock", "password": "mock"},
        timeout=10,
    )
    assert r.status_code == 200
    return r.json()["token"]


def test_simple_token_reads_but_a_write_is_403(mock_exist, api):
    acquire(api, "steps")
    token = simple_token(mock_exist)
    assert len(token) == 40 and token == simple_token(mock_exist)  # one per user, stable
    reader = Api(mock_exist.url, token, scheme="Token")
    assert [a["name"] for a in reader.get("attributes/").json()["results"]] == ["steps"]
    r = reader.post("attributes/update/", [{"name": "steps", "date": "2024-01-01", "value": 1}])
    assert r.status_code == 403
    assert r.json() == {"detail": "You do not have permission to perform this action."}
    assert mock_exist.state.ledger() == []


def test_simple_token_needs_the_right_password(mock_exist):
    r = requests.post(
        f"{mock_exist.url}/api/2/auth/simple-token/",
        data={"username": "mock", "password": "wrong"},
        timeout=10,
    )
    assert r.status_code == 400
    assert "token" not in r.json()


def test_unknown_path_is_a_json_404(api):
    r = api.get("nothing/here/")
    assert r.status_code == 404 and r.json() == {"detail": "Not found."}


def test_paths_without_trailing_slash_are_404(api):
    r = api.get("accounts/profile")
    assert r.status_code == 404


def test_wrong_method_is_405(api):
    r = api.get("attributes/update/")
    assert r.status_code == 405 and r.json() == {"detail": 'Method "GET" not allowed.'}


# ------------------------------------------------------------------ rate limit


@pytest.mark.parametrize("mock_exist_config", [{"rate_limit": 5}])
def test_429_after_n_requests_with_retry_after(mock_exist, api):
    for _ in range(5):
        assert api.get("accounts/profile/").status_code == 200
    r = api.get("accounts/profile/")
    assert r.status_code == 429
    retry_after = int(r.headers["Retry-After"])
    assert 3590 <= retry_after <= 3600
    assert r.json()["detail"].startswith("Request was throttled.")


@pytest.mark.parametrize("mock_exist_config", [{"rate_limit": 3}])
def test_rate_limit_is_per_token_and_the_window_slides(mock_exist, api, make_api):
    clock = mock_exist.state.clock
    clock.set(datetime(2024, 1, 1, 12, 0, tzinfo=timezone.utc))
    api.get("accounts/profile/")
    clock.advance(1800)
    api.get("accounts/profile/")
    api.get("accounts/profile/")
    assert api.get("accounts/profile/").status_code == 429
    assert make_api().get("accounts/profile/").status_code == 200  # another token: own budget
    clock.advance(1800)  # the first request leaves the window, the refused one never counted
    assert api.get("accounts/profile/").status_code == 200
    assert api.get("accounts/profile/").status_code == 429


@pytest.mark.parametrize("mock_exist_config", [{"rate_limit": 2}])
def test_malformed_writes_count_against_the_budget(mock_exist, api):
    bad = api.session.post(
        f"{mock_exist.url}/api/2/attributes/update/",
        data="[",
        headers={"Content-Type": "application/json"},
    )
    assert bad.status_code == 400
    assert api.get("accounts/profile/").status_code == 200
    assert api.get("accounts/profile/").status_code == 429


@pytest.mark.parametrize("mock_exist_config", [{"rate_limit": 1}])
def test_unauthenticated_requests_do_not_count(mock_exist, api):
    for _ in range(3):
        assert Api(mock_exist.url, "f" * 40).get("accounts/profile/").status_code == 401
    assert api.get("accounts/profile/").status_code == 200


# ------------------------------------------------------------------ scopes


def test_profile_needs_no_scope(make_api):
    r = make_api(scopes=[]).get("accounts/profile/")
    assert r.status_code == 200 and r.json()["username"] == "mock"


def test_write_scope_does_not_imply_read(make_api, mock_exist):
    writer = make_api(scopes=["activity_write"])
    assert writer.post("attributes/acquire/", [{"template": "steps"}]).status_code == 200
    assert writer.get("attributes/").json() == {
        "count": 0,
        "next": None,
        "previous": None,
        "results": [],
    }
    assert writer.get("attributes/values/", attribute="steps").status_code == 404
    assert mock_exist.state.attribute("steps")["service"]["name"] == "mock_client"


def test_reads_silently_leave_out_groups_outside_the_read_scopes(api, make_api):
    acquire(api, "steps", "mood", "coffees")
    reader = make_api(scopes=["activity_read", "mood_read"])
    names = [a["name"] for a in reader.get("attributes/").json()["results"]]
    assert names == ["steps", "mood"]
    assert reader.get("attributes/", groups="food").json()["results"] == []
    values = reader.get("attributes/with-values/").json()["results"]
    assert [a["name"] for a in values] == ["steps", "mood"]


def test_manual_scopes_cover_manual_attributes_in_any_group(api, make_api, mock_exist):
    mock_exist.state.seed_attribute("fridge_opens", group="food", value_type=0, manual=True)
    manual = make_api(scopes=["manual_read", "manual_write"])
    assert [a["name"] for a in manual.get("attributes/").json()["results"]] == ["fridge_opens"]
    assert manual.post("attributes/acquire/", [{"name": "fridge_opens"}]).status_code == 200
    r = manual.post(
        "attributes/update/", [{"name": "fridge_opens", "date": "2024-01-01", "value": 3}]
    )
    assert r.status_code == 200
    # ...but not a non-manual attribute of the same group
    mock_exist.state.seed_attribute("water", template="water", manual=False)
    r = manual.post("attributes/acquire/", [{"name": "water"}])
    assert r.json()["failed"][0]["error_code"] == "not_allowed"


def test_acquire_and_create_need_the_groups_write_scope(make_api, mock_exist):
    writer = make_api(scopes=["media_write"])
    r = writer.post("attributes/acquire/", [{"template": "steps"}])
    assert r.json()["failed"][0]["error_code"] == "not_allowed"
    assert mock_exist.state.attribute("steps") is None
    r = writer.post(
        "attributes/create/",
        [{"label": "Naps", "group": "sleep", "value_type": 3, "manual": False}],
    )
    assert r.json()["failed"][0]["error_code"] == "not_allowed"
    r = writer.post(
        "attributes/create/",
        [{"label": "Audiobooks", "group": "media", "value_type": 3, "manual": False}],
    )
    assert r.status_code == 200


# ------------------------------------------------------------------ several users and clients


def test_every_token_belongs_to_one_user(mock_exist, api, make_api):
    mock_exist.state.add_user("alice", timezone="Europe/Berlin")
    alice = make_api(username="alice")
    acquire(api, "steps")
    assert alice.get("attributes/").json()["results"] == []
    assert alice.get("accounts/profile/").json()["timezone"] == "Europe/Berlin"
    acquire(alice, "steps")
    alice.post("attributes/update/", [{"name": "steps", "date": "2024-01-01", "value": 7}])
    assert mock_exist.state.value("steps", "2024-01-01", username="alice") == 7
    assert mock_exist.state.value("steps", "2024-01-01") is None


def test_one_user_many_clients_each_with_its_own_token(mock_exist, api, other_client):
    acquire(api, "steps")
    owned_by_default = api.get("attributes/owned/").json()["results"]
    assert [a["name"] for a in owned_by_default] == ["steps"]
    assert other_client.get("attributes/owned/").json()["results"] == []
    assert [a["name"] for a in other_client.get("attributes/").json()["results"]] == ["steps"]


# ------------------------------------------------------------------ reads and pagination


def test_profile_has_the_documented_fields(mock_exist, api):
    mock_exist.state.clock.set(datetime(2022, 5, 16, 6, 1, 37, tzinfo=timezone.utc))
    mock_exist.state.set_timezone("mock", "Australia/Sydney")
    p = api.get("accounts/profile/").json()
    assert p["timezone"] == "Australia/Sydney"
    assert p["local_time"] == "2022-05-16T16:01:37+10:00"
    for key in (
        "username",
        "first_name",
        "last_name",
        "avatar",
        "imperial_distance",
        "imperial_weight",
        "imperial_energy",
        "imperial_liquid",
        "imperial_temperature",
        "trial",
        "delinquent",
    ):
        assert key in p


def test_pages_have_count_and_absolute_links_that_keep_other_parameters(api, mock_exist):
    first = api.get("attributes/templates/", groups="activity,food,health", limit=5).json()
    assert first["count"] == 9 + 9 + 9  # low-priority templates (priority >= 10) left out
    assert first["previous"] is None
    assert first["next"].startswith(mock_exist.url + "/api/2/attributes/templates/?")
    assert "groups=activity%2Cfood%2Chealth" in first["next"] and "limit=5" in first["next"]
    second = requests.get(first["next"], headers=api.session.headers, timeout=10).json()
    assert "page=" not in second["previous"] and "limit=5" in second["previous"]
    names = [t["name"] for t in first["results"] + second["results"]]
    assert len(names) == len(set(names)) == 10


def test_page_size_default_20_max_100_and_bad_pages_404(api):
    assert len(api.get("attributes/templates/").json()["results"]) == 20
    everything = api.get("attributes/templates/", include_low_priority="true", limit=500).json()
    assert everything["count"] == 86 and len(everything["results"]) == 86
    assert len(api.get("attributes/templates/", limit="x").json()["results"]) == 20
    assert api.get("attributes/templates/", page=99).status_code == 404
    assert api.get("attributes/templates/", page="abc").json() == {"detail": "Invalid page."}
    many = api.get("attributes/templates/", include_low_priority="1", limit=100).json()
    assert len(many["results"]) == 86 and many["next"] is None


def test_attribute_filters(api, mock_exist):
    acquire(api, "steps", "mood", "weight")
    mock_exist.state.seed_attribute("tired", group="custom", value_type=7, manual=True)
    names = lambda **p: [a["name"] for a in api.get("attributes/", **p).json()["results"]]  # noqa: E731
    assert names(attributes="mood,tired") == ["mood", "tired"]
    assert names(exclude_custom="true") == ["steps", "mood", "weight"]
    assert names(manual="true") == ["tired"]
    assert names(manual="false") == ["steps", "mood", "weight"]
    assert names(groups="custom") == ["tired"]
    assert names(owned="true") == ["steps", "mood", "weight"]


def test_with_values_lists_every_day_newest_first_with_nulls(api, mock_exist):
    acquire(api, "steps", "mood")
    api.post(
        "attributes/update/",
        [
            {"name": "steps", "date": "2024-01-03", "value": 300},
            {"name": "steps", "date": "2024-01-01", "value": 100},
        ],
    )
    r = api.get("attributes/with-values/", days=3, date_max="2024-01-03", attributes="steps")
    assert r.json()["results"][0]["values"] == [
        {"date": "2024-01-03", "value": 300},
        {"date": "2024-01-02", "value": None},
        {"date": "2024-01-01", "value": 100},
    ]
    assert api.get("attributes/with-values/", templates="mood").json()["count"] == 1


def test_with_values_defaults_to_today_and_one_day(api, mock_exist):
    mock_exist.state.clock.set(datetime(2024, 6, 1, 23, 30, tzinfo=timezone.utc))
    mock_exist.state.set_timezone("mock", "Pacific/Auckland")  # already 2 June there
    acquire(api, "steps")
    values = api.get("attributes/with-values/").json()["results"][0]["values"]
    assert values == [{"date": "2024-06-02", "value": None}]


@pytest.mark.parametrize(
    "params", [{"days": 32}, {"days": 0}, {"days": "x"}, {"date_max": "yesterday"}]
)
def test_with_values_rejects_bad_parameters(api, params):
    r = api.get("attributes/with-values/", **params)
    assert r.status_code == 400 and "detail" in r.json()


def test_values_endpoint_pages_back_from_date_max(api):
    acquire(api, "steps")
    updates = [{"name": "steps", "date": f"2024-01-{d:02d}", "value": d * 10} for d in (1, 2, 5)]
    api.post("attributes/update/", updates)
    r = api.get("attributes/values/", attribute="steps", date_max="2024-01-05", limit=2).json()
    assert r["count"] == 5
    assert r["results"] == [
        {"date": "2024-01-05", "value": 50},
        {"date": "2024-01-04", "value": None},
    ]
    assert api.get("attributes/values/").status_code == 400
    assert api.get("attributes/values/", attribute="nope").status_code == 404


def test_averages_correlations_insights_have_paged_shapes(api):
    for path in ("averages/", "correlations/", "insights/"):
        assert api.get(path).json() == {"count": 0, "next": None, "previous": None, "results": []}
    r = api.get("correlations/combo/", attribute="sleep", attribute2="steps")
    assert r.status_code == 404 and "detail" in r.json()


def test_values_paging_reaches_the_first_value_from_a_far_date_max(api):
    acquire(api, "coffees")
    api.post("attributes/update/", [{"name": "coffees", "date": "0001-01-01", "value": 1}])
    first = api.get("attributes/values/", attribute="coffees", date_max="9999-12-31").json()
    assert first["count"] == 3652059 and first["results"][0] == {
        "date": "9999-12-31",
        "value": None,
    }
    last_page = -(-first["count"] // 100)
    last = api.get(
        "attributes/values/", attribute="coffees", date_max="9999-12-31", limit=100, page=last_page
    ).json()
    assert last["results"][-1] == {"date": "0001-01-01", "value": 1} and last["next"] is None
