"""The refresher against ``responses``: one with-values request per refresh, summaries once a day,
writes first (a due write or a tight budget postpones a read, and the status says why), the write
side's confirmed totals mirrored without a read, and the state documents' presentation."""

from __future__ import annotations

import json
import logging
import math
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from mqtt_bridge.config.model import ReadSettings
from mqtt_bridge.diagnose import status_view
from mqtt_bridge.exist.budget import RequestBudget, token_key
from mqtt_bridge.exist.client import ExistClient
from mqtt_bridge.pipeline.mirror.refresher import DiscoveryTarget, Refresher

from ..support.exist_client import API, BASE, TOKEN, FakeClock

TODAY = "2023-11-14"  # FakeClock's start, in UTC
DAYS = ["2023-11-08", "2023-11-09", "2023-11-10", "2023-11-11", "2023-11-12", "2023-11-13", TODAY]


def attribute(name: str, value_type: int, values: list, group: str = "custom") -> dict:
    """An attribute as with-values lists it; ``values`` oldest first, ending today."""
    return {
        "name": name,
        "label": name.replace("_", " ").capitalize(),
        "group": {"name": group, "label": group, "priority": 1},
        "value_type": value_type,
        "value_type_description": "",
        "values": [
            {"date": d, "value": v} for d, v in reversed(list(zip(DAYS, values, strict=True)))
        ],
    }


MOOD = attribute("mood", 8, [5, 6, 7, 6, 8, 7, 9], group="mood")
SLEEP = attribute("sleep", 3, [420, 400, 380, 450, 470, 430, 415], group="sleep")
SLEEP_START = attribute("sleep_start", 6, [660, 690, 700, 650, 640, 720, -30], group="sleep")
PRODUCTIVE = attribute("productive_min_percent", 5, [0.5, 0.25, 0.3, 0.4, 0.2, 0.1, 0.625])


class Published:
    def __init__(self):
        self.messages: list[tuple[str, str]] = []

    def __call__(self, topic: str, payload: str) -> None:
        self.messages.append((topic, payload))

    def last(self, topic: str) -> dict:
        return json.loads([p for t, p in self.messages if t == topic][-1])

    def topics(self) -> list[str]:
        return [t for t, _ in self.messages]


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def clock():
    return FakeClock()


def make(
    clock,
    settings: ReadSettings,
    allowed: int = 280,
    write_due=lambda: math.inf,
    target=None,
    status_path=None,
):
    budget = RequestBudget(clock=clock, allowed=allowed)
    client = ExistClient(TOKEN, base_url=BASE, budget=budget, clock=clock, sleep=clock.sleep)
    published = Published()
    refresher = Refresher(
        settings,
        client,
        published,
        "UTC",
        write_due=write_due,
        discovery_target=target,
        status_path=status_path,
        clock=clock,
    )
    return refresher, published


def with_values(rsps, *attributes: dict) -> None:
    rsps.get(API + "/attributes/with-values/", json={"next": None, "results": list(attributes)})


def requests_to(rsps, path: str) -> list[dict[str, list[str]]]:
    return [
        parse_qs(urlsplit(c.request.url).query)
        for c in rsps.calls
        if urlsplit(c.request.url).path == "/api/2" + path
    ]


NAMES = ReadSettings(enabled=True, attributes=("mood", "sleep", "sleep_start"))


def test_one_refresh_is_one_with_values_request_for_the_named_attributes(rsps, clock):
    with_values(rsps, MOOD, SLEEP, SLEEP_START)
    refresher, published = make(clock, NAMES)
    refresher.step()
    assert len(rsps.calls) == 1
    (query,) = requests_to(rsps, "/attributes/with-values/")
    assert query["attributes"] == ["mood,sleep,sleep_start"]
    assert query["days"] == ["7"] and query["date_max"] == [TODAY] and query["limit"] == ["100"]
    mood = published.last("exist/mood/state")
    assert (mood["state"], mood["value"], mood["yesterday"], mood["date"]) == (9, 9, 7, TODAY)
    assert mood["last_7_days"] == [
        {"date": d, "value": v} for d, v in zip(DAYS, [5, 6, 7, 6, 8, 7, 9], strict=True)
    ]
    assert mood["source"] == "read" and mood["label"] == "Mood"
    sleep = published.last("exist/sleep/state")
    assert (sleep["state"], sleep["unit"]) == (415, "min")
    # minutes from midday: -30 is 11:30, 720 is midnight
    start = published.last("exist/sleep_start/state")
    assert (start["state"], start["yesterday"], start["value"]) == ("11:30", "00:00", -30)
    assert refresher.status()["postponed"] is None and refresher.status()["attributes"] == 3


def test_the_next_refresh_is_an_interval_later(rsps, clock):
    with_values(rsps, MOOD)
    refresher, _ = make(clock, ReadSettings(enabled=True, attributes=("mood",), interval=3600))
    assert refresher.step() == clock() + 3600
    clock.advance(3599)
    refresher.step()
    assert len(rsps.calls) == 1
    clock.advance(1)
    refresher.step()
    assert len(rsps.calls) == 2


def test_groups_and_all_filter_the_one_answer(rsps, clock):
    with_values(rsps, MOOD, SLEEP, PRODUCTIVE)
    refresher, published = make(
        clock, ReadSettings(enabled=True, attributes=("productive_min_percent",), groups=("mood",))
    )
    refresher.step()
    (query,) = requests_to(rsps, "/attributes/with-values/")
    assert "attributes" not in query and "groups" not in query  # both: one unfiltered request
    topics = set(published.topics())
    assert topics == {"exist/mood/state", "exist/productive_min_percent/state"}
    percent = published.last("exist/productive_min_percent/state")
    assert (percent["state"], percent["unit"], percent["value"]) == (62.5, "%", 0.625)


def test_pages_of_up_to_100_are_followed(rsps, clock):
    many = [attribute(f"tag_{i}", 7, [0, 1, 0, 1, 0, 1, 1]) for i in range(150)]
    url = API + "/attributes/with-values/"
    first = {"days": "7", "date_max": TODAY, "limit": "100"}
    rsps.get(
        url,
        json={"next": url + "?page=2", "results": many[:100]},
        match=[responses.matchers.query_param_matcher(first)],
    )
    rsps.get(
        url,
        json={"next": None, "results": many[100:]},
        match=[responses.matchers.query_param_matcher({"page": "2"})],
    )
    refresher, published = make(clock, ReadSettings(enabled=True, all=True))
    refresher.step()
    assert len(rsps.calls) == 2
    assert refresher.status()["attributes"] == 150
    assert published.last("exist/tag_149/state")["state"] == "ON"


def test_averages_and_insights_are_read_once_a_day(rsps, clock):
    with_values(rsps, MOOD, SLEEP)
    rsps.get(
        API + "/averages/",
        json={
            "next": None,
            "results": [
                {
                    "attribute": "sleep",
                    "date": "2023-11-12",
                    "overall": 430.0,
                    **{d: 400.0 for d in ("monday", "wednesday", "thursday", "friday")},
                    **{"tuesday": 455.0, "saturday": 470.0, "sunday": 480.0},
                }
            ],
        },
    )
    rsps.get(
        API + "/insights/",
        json={
            "next": None,
            "results": [
                {
                    "created": "2023-11-14T08:00:00+00:00",
                    "target_date": TODAY,
                    "type": {"name": "dow_sleep", "attribute": {"name": "sleep"}},
                    "html": "<div>…</div>",
                    "text": "Last night's sleep was long.\r\nTuesday is your longest.",
                }
            ],
        },
    )
    settings = ReadSettings(
        enabled=True, attributes=("mood", "sleep"), interval=3600, averages=True, insights=True
    )
    refresher, published = make(clock, settings)
    refresher.step()
    clock.advance(3600)  # 23:13 the same day
    refresher.step()
    assert len(requests_to(rsps, "/attributes/with-values/")) == 2
    (averages,) = requests_to(rsps, "/averages/")
    assert averages["attributes"] == ["mood,sleep"]
    (insights,) = requests_to(rsps, "/insights/")
    assert insights["date_min"] == ["2023-11-13"]
    sleep = published.last("exist/sleep/state")
    assert (sleep["average"], sleep["average_today"]) == (430.0, 455.0)  # a Tuesday
    insight = published.last("exist/insights/state")
    assert insight["state"] == "Last night's sleep was long. Tuesday is your longest."
    assert (insight["date"], insight["attribute"]) == (TODAY, "sleep")
    clock.advance(3600)  # the next day
    refresher.step()
    assert len(requests_to(rsps, "/averages/")) == 2
    assert len(requests_to(rsps, "/insights/")) == 2


def test_a_due_write_postpones_the_read_and_status_says_so(rsps, clock, tmp_path):
    with_values(rsps, MOOD)
    due = [clock() + 30]
    refresher, published = make(
        clock, NAMES, write_due=lambda: due[0], status_path=tmp_path / "read.json"
    )
    assert refresher.step() == clock() + 60
    assert len(rsps.calls) == 0 and published.messages == []
    assert refresher.status()["postponed"] == "a write to Exist is due: reads wait for it"
    line = status_view.mirror_line(status_view.mirror(tmp_path))  # `exist-bridge status`
    assert line.endswith("; WAITING: a write to Exist is due: reads wait for it")
    assert line.startswith("0 attribute(s), last refresh never, next ")
    due[0] = math.inf  # the flush went
    clock.advance(60)
    refresher.step()
    assert len(rsps.calls) == 1 and refresher.status()["postponed"] is None


def test_a_tight_budget_postpones_the_read(rsps, clock):
    with_values(rsps, MOOD)
    refresher, _ = make(clock, NAMES, allowed=40)
    key = token_key(TOKEN)
    for _ in range(31):  # 9 left, and 10 are kept for writes
        refresher.client.budget.reserve(key)
    refresher.step()
    assert len(rsps.calls) == 0
    assert refresher.status()["postponed"] == (
        "the request budget is tight (9 of 40 left this hour; 10 are kept for writes)"
    )
    clock.advance(3601)  # the hour frees
    refresher.step()
    assert len(rsps.calls) == 1


def test_a_429_postpones_by_its_retry_after(rsps, clock):
    rsps.get(API + "/attributes/with-values/", status=429, headers={"Retry-After": "900"})
    refresher, _ = make(clock, NAMES)
    refresher.client.max_wait = 0  # no wait inside the client
    assert refresher.step() == pytest.approx(clock() + 900)
    assert refresher.status()["postponed"].startswith("rate limited:")


def test_confirmed_writes_are_mirrored_without_a_read(rsps, clock):
    with_values(rsps, MOOD, SLEEP)
    refresher, published = make(clock, NAMES)
    refresher.step()
    calls = len(rsps.calls)
    refresher.confirmed([("mood", TODAY, 4), ("mood", "2023-11-13", 3), ("coffees", TODAY, 2)])
    assert len(rsps.calls) == calls
    mood = published.last("exist/mood/state")
    assert (mood["state"], mood["yesterday"], mood["source"]) == (4, 3, "write")
    assert "exist/coffees/state" not in published.topics()  # not mirrored


TARGET = DiscoveryTarget("homeassistant", "exist_bridge", "1.2.3", "exist-bridge/availability")


def test_nothing_is_republished_before_a_first_refresh(rsps, clock):
    refresher, published = make(clock, NAMES, target=TARGET)
    refresher.republish()
    assert published.messages == [] and len(rsps.calls) == 0


def test_discovery_one_entity_per_attribute_under_one_exist_device(rsps, clock):
    tag = attribute("meditation", 7, [0, 0, 1, 0, 1, 1, 1])
    note = attribute("note", 2, ["a", "b", "c", "d", "e", "f", "g"])
    with_values(rsps, MOOD, SLEEP, SLEEP_START, PRODUCTIVE, tag, note)
    rsps.get(API + "/insights/", json={"next": None, "results": []})
    settings = ReadSettings(enabled=True, all=True, insights=True)
    refresher, published = make(clock, settings, target=TARGET)
    refresher.step()
    configs = {t: json.loads(p) for t, p in published.messages if t.endswith("/config")}
    prefix = "homeassistant/sensor/exist_bridge_exist"
    sleep = configs[f"{prefix}/sleep/config"]
    assert sleep["unit_of_measurement"] == "min" and sleep["device_class"] == "duration"
    assert sleep["state_class"] == "measurement"
    assert sleep["state_topic"] == sleep["json_attributes_topic"] == "exist/sleep/state"
    assert sleep["value_template"] == "{{ value_json.state }}"
    assert sleep["availability_topic"] == "exist-bridge/availability"
    assert sleep["unique_id"] == "exist_bridge_exist_sleep" and sleep["has_entity_name"] is True
    assert configs[f"{prefix}/productive_min_percent/config"]["unit_of_measurement"] == "%"
    assert "state_class" not in configs[f"{prefix}/sleep_start/config"]  # a time of day
    assert "state_class" not in configs[f"{prefix}/note/config"]  # text
    assert "homeassistant/binary_sensor/exist_bridge_exist/meditation/config" in configs
    assert configs[f"{prefix}/insight/config"]["state_topic"] == "exist/insights/state"
    devices = {json.dumps(c["device"], sort_keys=True) for c in configs.values()}
    assert len(devices) == 1
    device = sleep["device"]
    assert device["name"] == "Exist" and device["via_device"] == "exist_bridge"
    assert len(configs) == 7
    # announced once: the next refresh publishes states only
    before = len(published.messages)
    clock.advance(3600)
    refresher.step()
    assert not [t for t, _ in published.messages[before:] if t.endswith("/config")]
    after = len(published.messages)
    refresher.republish()  # on a reconnect: everything again, without a read
    again = [t for t, _ in published.messages[after:]]
    assert len([t for t in again if t.endswith("/config")]) == 7
    assert {t for t in again if t.endswith("/state")} == {
        f"exist/{name}/state"
        for name in ("mood", "sleep", "sleep_start", "productive_min_percent", "meditation", "note")
    } | {"exist/insights/state"}
    assert len(requests_to(rsps, "/attributes/with-values/")) == 2


def correlation(first: str, second: str, text: str, percentage: float, stars: int) -> dict:
    return {
        "date": "2023-11-13",
        "attribute": first,
        "attribute2": second,
        "value": percentage / 100,
        "percentage": abs(percentage),
        "stars": stars,
        "second_person": text,
        "strength_description": "Often go together",
        "stars_description": "Certain to be related",
    }


def test_correlations_once_a_day_filtered_most_confident_first(rsps, clock):
    with_values(rsps, MOOD, SLEEP)
    rsps.get(
        API + "/correlations/",
        json={
            "next": None,
            "results": [
                correlation("mood", "steps", "you have a better day when you walk more.", 24, 4),
                correlation(
                    "sleep", "sleep_start", "you sleep more when you go to bed early.", -56, 5
                ),
                {"attribute": "broken"},  # skipped, not raised
            ],
        },
    )
    settings = ReadSettings(enabled=True, all=True, correlations=("strong", "confident"))
    refresher, published = make(clock, settings, target=TARGET)
    refresher.step()
    clock.advance(3600)
    refresher.step()
    (query,) = requests_to(rsps, "/correlations/")
    assert (query["strong"], query["confident"]) == (["1"], ["1"])
    doc = published.last("exist/correlations/state")
    assert doc["state"] == "you sleep more when you go to bed early."
    assert doc["count"] == 2
    assert [(c["attribute"], c["percentage"], c["stars"]) for c in doc["correlations"]] == [
        ("sleep", 56, 5),
        ("mood", 24, 4),
    ]
    config = published.last("homeassistant/sensor/exist_bridge_exist/correlation/config")
    assert config["state_topic"] == "exist/correlations/state" and config["name"] == "Correlation"


def test_a_postponement_is_logged_once_per_cause(rsps, clock, caplog):
    with_values(rsps, MOOD)
    refresher, _ = make(clock, NAMES, allowed=40)
    key = token_key(TOKEN)
    with caplog.at_level(logging.INFO, "exist_bridge.mirror"):
        for _ in range(31):  # 9 left, and 10 are kept for writes
            refresher.client.budget.reserve(key)
        for _ in range(5):  # a write a minute: the numbers change, the cause doesn't
            refresher.step()
            refresher.client.budget.reserve(key)
            clock.advance(60)
    said = [r.getMessage() for r in caplog.records if "postponed" in r.getMessage()]
    assert len(said) == 1 and "the request budget is tight (" in said[0]
    assert len(rsps.calls) == 0


def test_a_malformed_with_values_answer_leaves_the_rest_mirrored(rsps, clock, caplog):
    # Exist's JSON as Python reads it may hold NaN/Infinity; a record may lack values or a name
    odd = [
        attribute("bedtime", 4, [600, 610, 620, 630, 640, 650, math.inf]),
        attribute("focus", 5, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, "0.75"]),  # numbers as text
        attribute("weight", 1, [70, 71, 72, 73, 74, 75, math.nan]),
        {**attribute("energy", 3, [1] * 7), "values": 5},
        {**attribute("x", 0, [1] * 7), "name": ""},
        {**attribute("y", 0, [1] * 7), "name": "a/#"},
    ]
    with_values(rsps, MOOD, *odd)
    refresher, published = make(clock, ReadSettings(enabled=True, all=True))
    with caplog.at_level(logging.WARNING):
        refresher.step()
    assert refresher.status()["postponed"] is None and refresher.refreshes == 1
    assert published.last("exist/mood/state")["state"] == 9
    bedtime = published.last("exist/bedtime/state")  # unknown today, yesterday's time kept
    assert (bedtime["state"], bedtime["value"], bedtime["yesterday"]) == (None, None, "10:50")
    focus = published.last("exist/focus/state")
    assert (focus["state"], focus["value"]) == (75.0, 0.75)
    assert published.last("exist/weight/state")["state"] is None
    assert published.last("exist/energy/state")["last_7_days"][-1]["value"] is None
    for _, payload in published.messages:  # what Home Assistant's JSON parser can read
        json.loads(payload, parse_constant=lambda name: pytest.fail(f"{name} published"))
    topics = set(published.topics())
    assert topics == {f"exist/{n}/state" for n in ("mood", "bedtime", "focus", "weight", "energy")}
    assert not caplog.records


def test_a_named_attribute_exist_doesnt_have_is_said_once(rsps, clock, caplog):
    with_values(rsps, MOOD, SLEEP)
    settings = ReadSettings(enabled=True, attributes=("mood", "moood", "sleep"), interval=600)
    refresher, published = make(clock, settings)
    with caplog.at_level(logging.WARNING):
        refresher.step()
        clock.advance(600)
        refresher.step()
    assert len(rsps.calls) == 2 and published.last("exist/mood/state")["state"] == 9
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "read.attributes: Exist has no attribute 'moood' for this token (yet): nothing to mirror "
        "until it has (a typo? the names are Exist's, e.g. mood, steps, sleep)"
    ]
