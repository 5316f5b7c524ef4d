"""Write endpoints: body rules, 200 vs 202, per-item errors, ownership, create, values."""

from __future__ import annotations

import json

import pytest

WRITE_PATHS = [
    "attributes/acquire/",
    "attributes/release/",
    "attributes/create/",
    "attributes/update/",
    "attributes/increment/",
]


def acquire(api, *templates: str) -> None:
    r = api.post("attributes/acquire/", [{"template": t, "manual": False} for t in templates])
    assert r.status_code == 200, r.text


# ------------------------------------------------------------------ body rules


@pytest.mark.parametrize("path", WRITE_PATHS)
@pytest.mark.parametrize("body", [{"name": "steps"}, "steps", 5, None, [1, 2], [{"name": "x"}, 3]])
def test_body_must_be_a_json_array_of_objects(api, mock_exist, path, body):
    r = api.session.post(
        f"{mock_exist.url}/api/2/{path}",
        data=json.dumps(body),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 400
    assert "detail" in r.json()


@pytest.mark.parametrize("path", WRITE_PATHS)
def test_more_than_35_objects_is_refused_as_a_whole(api, mock_exist, path):
    acquire(api, "steps")
    items = [{"name": "steps", "date": "2024-01-01", "value": 1}] * 36
    r = api.post(path, items)
    assert r.status_code == 400
    assert "35" in r.json()["detail"]
    assert mock_exist.state.ledger() == []


def test_35_objects_are_accepted(api):
    acquire(api, "steps")
    items = [{"name": "steps", "date": f"2024-01-{d:02d}", "value": d} for d in range(1, 32)]
    items += [{"name": "steps", "date": "2024-02-01", "value": 1}] * 4
    r = api.post("attributes/update/", items)
    assert r.status_code == 200
    assert len(r.json()["success"]) == 35


@pytest.mark.parametrize("mock_exist_config", [{"max_items": 3}])
def test_item_cap_is_configurable(api):
    acquire(api, "steps")
    items = [{"name": "steps", "date": "2024-01-01", "value": 1}] * 4
    assert api.post("attributes/update/", items).status_code == 400
    assert api.post("attributes/update/", items[:3]).status_code == 200


def test_json_without_content_type_is_415(api, mock_exist):
    r = api.session.post(f"{mock_exist.url}/api/2/attributes/update/", data="[]")
    assert r.status_code == 415
    assert r.json() == {"detail": 'Unsupported media type "" in request.'}


@pytest.mark.parametrize("raw", ["[", "[{'a': 1}]", "", "[NaN]", '[{"value": Infinity}]', "\xff"])
def test_malformed_json_is_400(api, mock_exist, raw):
    r = api.session.post(
        f"{mock_exist.url}/api/2/attributes/update/",
        data=raw.encode("latin-1"),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 400
    assert r.json()["detail"].startswith("JSON parse error")


# ------------------------------------------------------------------ 200 vs 202, item errors


def test_200_when_nothing_failed_202_when_anything_did(api):
    acquire(api, "steps")
    ok = {"name": "steps", "date": "2024-01-01", "value": 5}
    bad = {"name": "steps", "date": "2024-01-01"}
    assert api.post("attributes/update/", [ok]).status_code == 200
    mixed = api.post("attributes/update/", [ok, bad])
    assert mixed.status_code == 202
    assert len(mixed.json()["success"]) == 1 and len(mixed.json()["failed"]) == 1
    all_failed = api.post("attributes/update/", [bad])
    assert all_failed.status_code == 202
    assert all_failed.json()["success"] == []


def test_failed_item_is_the_submitted_object_plus_code_and_message(api):
    acquire(api, "steps")
    item = {"name": "steps", "date": "2024-01-01", "extra": [1]}
    r = api.post("attributes/update/", [item])
    assert r.json()["failed"] == [
        {
            **item,
            "error_code": "missing_field",
            "error": "Object at index 0 missing field(s) 'value'",
        }
    ]


def test_missing_field_names_every_missing_field_and_the_index(api):
    acquire(api, "steps")
    r = api.post("attributes/update/", [{"name": "steps", "date": "2024-01-01", "value": 1}, {}])
    assert r.json()["failed"][0]["error"] == (
        "Object at index 1 missing field(s) 'name', 'date', 'value'"
    )


def test_not_found_for_an_attribute_the_user_lacks(api):
    r = api.post("attributes/update/", [{"name": "nope", "date": "2024-01-01", "value": 1}])
    f = r.json()["failed"][0]
    assert (f["error_code"], f["error"]) == (
        "not_found",
        "User doesn't have an attribute named 'nope'",
    )


def test_only_the_owner_writes(api, other_client, mock_exist):
    acquire(api, "mood")
    for path, item in [
        ("attributes/update/", {"name": "mood", "date": "2024-01-01", "value": 5}),
        ("attributes/increment/", {"name": "mood", "value": 1}),
    ]:
        f = other_client.post(path, [item]).json()["failed"][0]
        assert f["error_code"] == "unauthorised"
        assert f["error"] == "Attribute 'mood' does not belong to this service"
    assert mock_exist.state.ledger() == []


def test_write_outside_write_scopes_is_not_allowed(make_api, api):
    acquire(api, "steps")
    limited = make_api(scopes=["mood_write"])
    f = limited.post("attributes/update/", [{"name": "steps", "date": "2024-01-01", "value": 1}])
    assert f.status_code == 202
    failed = f.json()["failed"][0]
    assert failed["error_code"] == "not_allowed"
    assert failed["error"] == "No permission to write to attributes in group 'activity'"


# ------------------------------------------------------------------ acquire / release


def test_acquire_by_template_creates_the_attribute(api, mock_exist):
    assert mock_exist.state.attribute("pages_read") is None
    acquire(api, "pages_read")
    attr = mock_exist.state.attribute("pages_read")
    assert attr["template"] == "pages_read" and attr["value_type"] == 0
    assert attr["service"]["name"] == "mock_client" and attr["manual"] is False


def test_acquire_by_name_needs_an_existing_attribute(api, mock_exist):
    r = api.post("attributes/acquire/", [{"name": "pages_read"}])
    assert r.status_code == 202
    assert r.json()["failed"][0]["error_code"] == "not_found"
    assert mock_exist.state.attribute("pages_read") is None
    mock_exist.state.seed_attribute(
        "fridge_opens", label="Fridge opens", group="food", value_type=0, manual=True
    )
    r = api.post("attributes/acquire/", [{"name": "fridge_opens"}])
    assert r.status_code == 200
    assert mock_exist.state.attribute("fridge_opens")["service"]["name"] == "mock_client"


def test_acquire_by_template_refuses_a_custom_attribute_of_that_name(api, mock_exist):
    mock_exist.state.seed_attribute("pages_read", group="media", value_type=5)
    r = api.post("attributes/acquire/", [{"template": "pages_read"}])
    assert r.json()["failed"][0]["error_code"] == "validation"
    assert mock_exist.state.attribute("pages_read")["service"] is None


def test_acquire_without_name_or_template_is_missing_field(api):
    r = api.post("attributes/acquire/", [{"manual": False}])
    assert r.json()["failed"][0]["error"] == "Object at index 0 missing field(s) 'name'"


def test_unknown_template_is_not_found(api):
    r = api.post("attributes/acquire/", [{"template": "unicorns"}])
    assert r.json()["failed"][0]["error_code"] == "not_found"


def test_acquiring_again_is_an_idempotent_success(api, mock_exist):
    acquire(api, "steps")
    before = mock_exist.state.attribute("steps")
    acquire(api, "steps")
    assert mock_exist.state.attribute("steps") == before


def test_acquiring_takes_ownership_from_another_client(api, other_client, mock_exist):
    acquire(api, "steps")
    assert other_client.post("attributes/acquire/", [{"name": "steps"}]).status_code == 200
    assert mock_exist.state.attribute("steps")["service"]["name"] == "other_app"
    r = api.post("attributes/update/", [{"name": "steps", "date": "2024-01-01", "value": 1}])
    assert r.json()["failed"][0]["error_code"] == "unauthorised"


def test_acquire_honours_the_manual_flag(api, mock_exist):
    api.post("attributes/acquire/", [{"template": "steps", "manual": True}])
    assert mock_exist.state.attribute("steps")["manual"] is True
    api.post("attributes/acquire/", [{"template": "steps", "manual": False}])
    assert mock_exist.state.attribute("steps")["manual"] is False
    api.post("attributes/acquire/", [{"template": "steps"}])  # no flag: unchanged
    assert mock_exist.state.attribute("steps")["manual"] is False


def test_acquire_success_objects_returns_full_attributes(api):
    r = api.post("attributes/acquire/", [{"template": "mood"}], success_objects=1)
    obj = r.json()["success"][0]
    assert obj["name"] == "mood" and obj["value_type"] == 8 and obj["group"]["name"] == "mood"


def test_release_of_an_attribute_you_dont_own_is_unauthorised(api, other_client, mock_exist):
    acquire(api, "steps")
    r = other_client.post("attributes/release/", [{"name": "steps"}])
    f = r.json()["failed"][0]
    assert (f["error_code"], f["error"]) == (
        "unauthorised",
        "Attribute 'steps' does not belong to this service",
    )
    assert mock_exist.state.attribute("steps")["service"]["name"] == "mock_client"


def test_released_attributes_become_inactive(api, mock_exist):
    acquire(api, "steps")
    assert api.post("attributes/release/", [{"name": "steps"}]).status_code == 200
    attr = mock_exist.state.attribute("steps")
    assert attr["active"] is False and attr["service"] is None
    assert [a["name"] for a in api.get("attributes/").json()["results"]] == []
    listed = api.get("attributes/", include_inactive="true").json()["results"]
    assert [a["name"] for a in listed] == ["steps"]


# ------------------------------------------------------------------ create


def test_create_custom_attribute_slugs_the_label_and_owns_it(api, mock_exist):
    item = {"label": "Time reading", "value_type": 3, "group": "media", "manual": False}
    r = api.post("attributes/create/", [item])
    assert r.status_code == 200
    assert r.json()["success"][0] == {**item, "name": "time_reading", "priority": 9}
    attr = mock_exist.state.attribute("time_reading")
    assert attr["service"]["name"] == "mock_client" and attr["template"] is None
    ok = api.post(
        "attributes/update/", [{"name": "time_reading", "date": "2024-01-01", "value": 30}]
    )
    assert ok.status_code == 200


def test_create_manual_defaults_to_true(api, mock_exist):
    api.post("attributes/create/", [{"label": "Fridge opens", "group": "food", "value_type": 0}])
    assert mock_exist.state.attribute("fridge_opens")["manual"] is True


def test_create_from_template(api, mock_exist):
    r = api.post("attributes/create/", [{"template": "facebook_reactions"}], success_objects=1)
    assert r.status_code == 200
    assert r.json()["success"][0]["label"] == "Facebook reactions"
    assert mock_exist.state.attribute("facebook_reactions")["value_type"] == 0


def test_create_needs_label_group_and_value_type(api):
    r = api.post("attributes/create/", [{"label": "Only a label"}])
    assert r.json()["failed"][0]["error"] == (
        "Object at index 0 missing field(s) 'group', 'value_type'"
    )


def test_create_duplicate_fails(api):
    item = {"label": "Time reading", "value_type": 3, "group": "media"}
    assert api.post("attributes/create/", [item]).status_code == 200
    r = api.post("attributes/create/", [item])
    assert r.status_code == 202
    assert r.json()["failed"][0]["error_code"] == "validation"
    assert "already exists" in r.json()["failed"][0]["error"]


def test_create_refuses_value_type_6(api, mock_exist):
    r = api.post("attributes/create/", [{"label": "Bed", "group": "sleep", "value_type": 6}])
    assert r.json()["failed"][0]["error_code"] == "validation"
    assert mock_exist.state.attribute("bed") is None


@pytest.mark.parametrize(
    "field,value",
    [
        ("group", "nope"),
        ("value_type", 9),
        ("value_type", "0"),
        ("label", ""),
        ("label", "!!!"),
        ("manual", "yes"),
    ],
)
def test_create_validates_its_fields(api, field, value):
    item = {"label": "Thing", "group": "custom", "value_type": 7, field: value}
    assert api.post("attributes/create/", [item]).json()["failed"][0]["error_code"] == "validation"


# ------------------------------------------------------------------ values


@pytest.mark.parametrize(
    "template,value_type",
    [("steps", 0), ("sleep", 3), ("sleep_end", 4), ("sleep_start", 6), ("mood", 8)],
)
def test_integer_types_reject_floats_even_when_whole(api, template, value_type, mock_exist):
    acquire(api, template)
    assert mock_exist.state.attribute(template)["value_type"] == value_type
    r = api.post("attributes/update/", [{"name": template, "date": "2024-01-01", "value": 9.0}])
    f = r.json()["failed"][0]
    assert (f["error_code"], f["error"]) == (
        "validation",
        "Cannot apply a float to an integer type",
    )


def test_boolean_type_rejects_floats_and_accepts_0_and_1(api, mock_exist):
    mock_exist.state.seed_attribute("tired", group="custom", value_type=7, owner="mock_client")
    bad = api.post("attributes/update/", [{"name": "tired", "date": "2024-01-01", "value": 1.0}])
    assert bad.json()["failed"][0]["error"] == "Cannot apply a float to an integer type"
    assert (
        api.post(
            "attributes/update/", [{"name": "tired", "date": "2024-01-01", "value": 2}]
        ).status_code
        == 202
    )
    ok = [
        {"name": "tired", "date": d, "value": v} for d, v in [("2024-01-01", 1), ("2024-01-02", 0)]
    ]
    assert api.post("attributes/update/", ok).status_code == 200


@pytest.mark.parametrize(
    "template,good,bad",
    [
        ("body_fat", [0.0, 0.25, 1.0, 1], [1.01, -0.1, "0.5"]),
        ("mood", [1, 9], [0, 10]),
        ("sleep_end", [0, 1439], [-1, 1440]),
        ("weight", [72.5, 80], ["heavy", True, None]),
        ("mood_note", ["x" * 1000, ""], ["x" * 1001, 5]),
    ],
)
def test_value_type_ranges(api, template, good, bad):
    acquire(api, template)
    for i, value in enumerate(good):
        item = {"name": template, "date": f"2024-01-{i + 1:02d}", "value": value}
        assert api.post("attributes/update/", [item]).status_code == 200, (template, value)
    for value in bad:
        item = {"name": template, "date": "2024-02-01", "value": value}
        r = api.post("attributes/update/", [item])
        if value is None:  # null is allowed while the day has no value
            assert r.status_code == 200
            continue
        assert r.status_code == 202, (template, value)
        assert r.json()["failed"][0]["error_code"] == "validation"


@pytest.mark.parametrize("raw", ["2024-1-01", "01/02/2024", "2024-02-30", "2024-W01-1", 20240101])
def test_dates_must_be_yyyy_mm_dd(api, raw):
    acquire(api, "steps")
    r = api.post("attributes/update/", [{"name": "steps", "date": raw, "value": 1}])
    assert r.json()["failed"][0]["error_code"] == "validation"


def test_a_non_null_value_can_never_be_set_back_to_null(api, mock_exist):
    acquire(api, "steps")
    api.post("attributes/update/", [{"name": "steps", "date": "2024-01-01", "value": 10}])
    r = api.post("attributes/update/", [{"name": "steps", "date": "2024-01-01", "value": None}])
    assert r.json()["failed"][0]["error_code"] == "validation"
    assert mock_exist.state.value("steps", "2024-01-01") == 10


def test_update_overwrites_with_the_total(api, mock_exist):
    acquire(api, "steps")
    for total in (100, 250, 90):
        api.post("attributes/update/", [{"name": "steps", "date": "2024-01-01", "value": total}])
    assert mock_exist.state.value("steps", "2024-01-01") == 90
    ledger = mock_exist.state.ledger(attribute="steps")
    assert [(e["before"], e["after"]) for e in ledger] == [(None, 100), (100, 250), (250, 90)]


@pytest.mark.parametrize("template", ["mood_note", "mood", "sleep_end", "sleep_start"])
def test_increment_refuses_string_scale_and_time_of_day(api, template, mock_exist):
    acquire(api, template)
    r = api.post("attributes/increment/", [{"name": template, "date": "2024-01-01", "value": 1}])
    assert r.status_code == 202
    assert r.json()["failed"][0]["error_code"] == "validation"
    assert mock_exist.state.ledger() == []


def test_increment_returns_current_and_accumulates(api, mock_exist):
    acquire(api, "coffees", "steps_distance")
    items = [{"name": "coffees", "date": "2024-01-01", "value": 1}] * 3
    r = api.post("attributes/increment/", items)
    assert [s["current"] for s in r.json()["success"]] == [1, 2, 3]
    r = api.post(
        "attributes/increment/", [{"name": "steps_distance", "date": "2024-01-01", "value": 1.5}]
    )
    assert r.json()["success"][0]["current"] == 1.5
    r = api.post("attributes/increment/", [{"name": "coffees", "date": "2024-01-01", "value": 1.0}])
    assert r.json()["failed"][0]["error"] == "Cannot apply a float to an integer type"
    assert mock_exist.state.value("coffees", "2024-01-01") == 3


def test_increment_without_date_uses_today_in_the_users_timezone(mock_exist, api):
    from datetime import datetime, timezone

    mock_exist.state.set_timezone("mock", "Australia/Sydney")
    mock_exist.state.clock.set(
        datetime(2024, 3, 10, 20, 0, tzinfo=timezone.utc)
    )  # 07:00 on the 11th
    acquire(api, "coffees")
    r = api.post("attributes/increment/", [{"name": "coffees", "value": 2}])
    assert r.json()["success"][0]["current"] == 2
    assert mock_exist.state.values("coffees") == {"2024-03-11": 2}
