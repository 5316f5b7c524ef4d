"""The backfill panel's routes on their own (werkzeug's test client over the WSGI application,
the websocket stand-in for Home Assistant): the statistics list, the plan in ``--dry-run``'s
words, the checks of what the page sends, the refusal of cross-site requests, and the status
page's endpoint mounting it under ``/backfill/``."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from werkzeug.test import Client

from mqtt_bridge.backfill import panel as panel_module
from mqtt_bridge.backfill.panel import BackfillPanel, HomeAssistantAccess, cross_site
from mqtt_bridge.backfill.plan import plan_backfill
from mqtt_bridge.config import parse_config
from mqtt_bridge.observe.web import ObserveApp

from ..support.backfill import STATISTICS_CONFIG
from ..support.ha_statistics import StatisticsServer
from ..support.waiting import wait_until

ZONE = ZoneInfo("Europe/Berlin")


@pytest.fixture
def panel(tmp_path):
    ha = StatisticsServer().start()
    first = datetime(2024, 1, 1, tzinfo=ZONE)
    rows = [{"start": first + timedelta(hours=n), "sum": 100.0 * n} for n in range(48)]
    ha.add("sensor.energy", rows, unit="Wh", unit_class="energy", has_sum=True)
    ha.add("sensor.temp", [], unit="°C", unit_class="temperature", has_mean=True)
    config = parse_config(
        STATISTICS_CONFIG.format(url="http://exist.invalid", token="t", state=tmp_path / "state")
    )
    access = HomeAssistantAccess("http://ha.invalid", ha.url, ha.token)
    yield BackfillPanel(config, access)
    ha.stop()


def test_the_page_and_the_statistics(panel):
    client = Client(panel)
    assert client.get("/backfill").status_code == 301  # relative links need the slash
    assert client.get("/backfill").headers["Location"] == "backfill/"
    page = client.get("/backfill/")
    assert page.status_code == 200 and "energy_kwh" in page.text and "room_temp" in page.text
    listed = client.get("/backfill/statistics.json").json["statistics"]
    assert listed == [
        {"statistic_id": "sensor.energy", "name": "sensor.energy", "unit": "Wh", "kind": "change"},
        {"statistic_id": "sensor.temp", "name": "sensor.temp", "unit": "°C", "kind": "mean"},
    ]


def test_the_pages_last_day_is_yesterday_in_the_bridges_time_zone(panel):
    # UTC-12 and UTC+14 are 26 hours apart: one of them is on another date than this machine
    zone = next(
        z for z in ("Etc/GMT+12", "Etc/GMT-14") if datetime.now(ZoneInfo(z)).date() != date.today()
    )
    panel.config = replace(panel.config, exist=replace(panel.config.exist, timezone=zone))

    def yesterday() -> str:
        return (datetime.now(ZoneInfo(zone)).date() - timedelta(days=1)).isoformat()

    before = yesterday()
    page = Client(panel).get("/backfill/").text
    shown = {f'<input id="to" type="date" value="{d}" max="{d}">' for d in (before, yesterday())}
    assert any(s in page for s in shown)  # (either side of a midnight during the request)


def test_the_plan_is_the_dry_runs(panel):
    client = Client(panel)
    body = {
        "start": "2024-01-01",
        "end": "2024-01-02",
        "entities": ["sensor.energy=energy_kwh:change:kWh"],
    }
    answer = client.post("/backfill/plan", json=body)
    assert answer.status_code == 200, answer.text
    lines = answer.json["lines"]
    assert lines[0].startswith("backfill from Home Assistant at http://ha.invalid (long-term")
    # the first hour's sum is the base: 23 and 24 hours of 0.1 kWh
    assert (
        "  energy_kwh: 2 day(s) 2024-01-01..2024-01-02, total 4.7; "
        "statistics: 2024-01-01..2024-01-02"
    ) in lines
    assert answer.json["requests"] == 1
    assert client.get("/backfill/progress.json").json["state"] == "idle"  # a plan sends nothing


def test_a_statistic_id_with_a_typo_is_named_with_the_ones_like_it(panel):
    body = {
        "start": "2024-01-01",
        "end": "2024-01-02",
        "entities": ["sensor.enrgy=energy_kwh:mean"],
    }
    answer = Client(panel).post("/backfill/plan", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json["lines"][2:] == [
        "sensor.enrgy: Home Assistant has no statistics of this id (did you mean sensor.energy?)",
        "left out: sensor.enrgy: 2 day(s) without statistics, and the history has no mean",
        "nothing to send",
    ]


def test_stop_while_planning_sends_nothing(panel, monkeypatch):
    planning, release = threading.Event(), threading.Event()

    def slow_plan(*args, **kwargs):  # Home Assistant taking its time over the statistics
        planning.set()
        release.wait(15)
        return plan_backfill(*args, **kwargs)

    monkeypatch.setattr(panel_module, "plan_backfill", slow_plan)
    client = Client(panel)
    body = {"start": "2024-01-01", "end": "2024-01-02", "entities": ["sensor.energy=energy_kwh"]}
    assert client.post("/backfill/run", json=body).status_code == 200
    assert planning.wait(15)
    assert client.post("/backfill/stop", json={}).json["state"] == "stopping"
    release.set()

    def progress() -> dict:
        return client.get("/backfill/progress.json").json

    wait_until(lambda: progress()["state"] not in ("planning", "running", "stopping"))
    final = progress()  # (Exist is unreachable here: any request would have failed the run)
    assert (final["state"], final["done"], final["error"]) == ("stopped", 0, "")
    assert final["lines"][-1].startswith("stopped after 0 of 1 request(s)")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"start": "soon", "entities": ["sensor.energy=energy_kwh"]}, "must be dates"),
        ({"start": "2024-01-01", "entities": []}, "pick at least one statistic"),
        ({"start": "2024-01-01", "entities": ["sensor.energy=:change"]}, "no attribute"),
        (
            {"start": "2024-01-01", "entities": ["sensor.energy=energy_kwh:chnage"]},
            "'chnage' is neither a statistics kind (change, sum, max, min, state, mean) nor a "
            "history mode (update, counter, duration, increment): did you mean change?",
        ),
        (  # two statistics into one attribute: the second would replace the first's days
            {
                "start": "2024-01-01",
                "end": "2024-01-02",
                "entities": ["sensor.energy=energy_kwh:change:kWh", "sensor.temp=energy_kwh"],
            },
            "sensor.temp=energy_kwh: sensor.energy is read into energy_kwh already",
        ),
    ],
)
def test_what_the_page_sends_is_checked(panel, body, message):
    answer = Client(panel).post("/backfill/plan", json=body)
    assert answer.status_code == 400 and message in answer.json["error"]


def test_cross_site_requests_are_refused(panel):
    client = Client(panel)
    body = {"start": "2024-01-01", "entities": ["sensor.energy=energy_kwh"]}
    foreign = client.post(
        "/backfill/run", json=body, headers={"Origin": "https://evil.example", "Host": "ha:8123"}
    )
    assert foreign.status_code == 403 and "Origin https://evil.example" in foreign.json["error"]
    site = client.post("/backfill/stop", json={}, headers={"Sec-Fetch-Site": "cross-site"})
    assert site.status_code == 403
    form = client.post("/backfill/run", data={"start": "2024-01-01"})  # a plain form post
    assert form.status_code == 400 and "JSON body" in form.json["error"]
    assert client.get("/backfill/progress.json").json["state"] == "idle"  # nothing started
    # behind ingress the Host may be the add-on's own: the browser's Sec-Fetch-Site decides
    ingress = {"HTTP_ORIGIN": "http://ha.local:8123", "HTTP_HOST": "172.30.33.4:8099"}
    assert cross_site(ingress) is not None  # (no Sec-Fetch-Site: an old browser)
    assert cross_site({**ingress, "HTTP_SEC_FETCH_SITE": "same-origin"}) is None
    assert cross_site({**ingress, "HTTP_X_FORWARDED_HOST": "ha.local:8123"}) is None


def test_only_the_ingress_proxy_is_answered(panel):
    panel.peers = frozenset({"172.30.32.2"})
    client = Client(panel)
    outside = client.get("/backfill/", environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert outside.status_code == 403 and "ingress only" in outside.json["error"]
    inside = client.get("/backfill/", environ_base={"REMOTE_ADDR": "172.30.32.2"})
    assert inside.status_code == 200


def test_the_status_endpoint_mounts_the_panel_and_links_to_it(panel):
    class View:  # the parts of a BridgeView the mounting touches: none
        pass

    app = ObserveApp(View(), panel)  # type: ignore[arg-type]
    client = Client(app)
    assert client.get("/backfill/statistics.json").status_code == 200
    assert client.post("/metrics").status_code == 405  # the rest stays read-only
