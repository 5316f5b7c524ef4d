"""Seeded averages and insights, served with the documented shapes and filters."""

from __future__ import annotations

import pytest

from mock_exist.control.checks import ControlError


def test_seeded_averages_are_listed_and_filtered(mock_exist, api, make_api):
    state = mock_exist.state
    state.set_clock("2024-01-10T12:00:00+00:00")
    state.seed_attribute(None, template="steps")
    state.seed_attribute(None, template="mood")
    state.seed_average("steps", 4174, {"monday": 4057, "tuesday": 6614})
    state.seed_average("mood", 7, date="2024-01-01")
    results = api.get("averages/").json()["results"]
    steps = next(r for r in results if r["attribute"] == "steps")
    assert steps == {
        "attribute": "steps",
        "date": "2024-01-10",
        "overall": 4174.0,
        "monday": 4057.0,
        "tuesday": 6614.0,
        **{d: 4174.0 for d in ("wednesday", "thursday", "friday", "saturday", "sunday")},
    }
    assert [r["attribute"] for r in api.get("averages/", attributes="mood").json()["results"]] == [
        "mood"
    ]
    assert [r["attribute"] for r in api.get("averages/", groups="activity").json()["results"]] == [
        "steps"
    ]
    assert [
        r["attribute"] for r in api.get("averages/", date_min="2024-01-05").json()["results"]
    ] == ["steps"]
    mood_only = make_api(scopes=["mood_read"])
    assert [r["attribute"] for r in mood_only.get("averages/").json()["results"]] == ["mood"]


def test_seeded_insights_newest_first_from_date_min(mock_exist, api):
    state = mock_exist.state
    state.set_clock("2024-01-10T12:00:00+00:00")
    state.seed_attribute(None, template="sleep")
    state.seed_insight("An old one.", target_date="2024-01-01")
    state.seed_insight("Last night's sleep was long.", attribute="sleep", kind="dow_sleep")
    page = api.get("insights/", date_min="2024-01-09").json()
    assert page["count"] == 1
    (insight,) = page["results"]
    assert insight["text"] == "Last night's sleep was long."
    assert insight["target_date"] == "2024-01-10"
    assert insight["type"]["name"] == "dow_sleep"
    assert insight["type"]["attribute"]["name"] == "sleep"
    assert insight["type"]["attribute"]["group"]["name"] == "sleep"
    assert [i["target_date"] for i in api.get("insights/").json()["results"]] == [
        "2024-01-10",
        "2024-01-01",
    ]
    assert api.get("insights/", date_min="nope").status_code == 400


def test_seeding_checks_its_fields(mock_exist):
    with pytest.raises(ControlError, match="attribute"):
        mock_exist.state.seed_average("nope", 1)
    with pytest.raises(ControlError, match="weekdays"):
        mock_exist.state.seed_attribute(None, template="steps")
        mock_exist.state.seed_average("steps", 1, {"funday": 2})
    with pytest.raises(ControlError, match="target_date"):
        mock_exist.state.seed_insight("x", target_date="2024-13-01")


def test_seeded_correlations_filtered_by_strength_confidence_and_attribute(mock_exist, api):
    state = mock_exist.state
    for template in ("sleep", "sleep_start", "mood", "steps"):
        state.seed_attribute(None, template=template)
    state.seed_correlation(
        "sleep", "sleep_start", "you sleep more when you go to bed earlier.", -56
    )
    state.seed_correlation("mood", "steps", "you have a better day when you walk more.", 24, 4)
    every = api.get("correlations/").json()["results"]
    assert [c["attribute2"] for c in every] == ["sleep_start", "steps"]
    first = every[0]
    assert (first["percentage"], first["value"], first["stars"]) == (56.0, -0.56, 5)
    assert first["second_person"] == "you sleep more when you go to bed earlier."
    assert [c["attribute"] for c in api.get("correlations/", strong=1).json()["results"]] == [
        "sleep"
    ]
    assert [c["attribute"] for c in api.get("correlations/", confident=1).json()["results"]] == [
        "sleep"
    ]
    by_steps = api.get("correlations/", attribute="steps").json()["results"]
    assert [c["attribute"] for c in by_steps] == ["mood"]
