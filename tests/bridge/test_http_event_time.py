"""The HTTP endpoint shows what the add-on user can't see otherwise (issue 17's review): how
event_time mappings timed their messages (a /metrics family and a section of the status page,
like `exist-bridge status` prints), and every pending and refused (attribute, day) row on the
page, however many newer sent rows there are. Over real HTTP, around a stand-in for the bridge."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from mqtt_bridge.observe import MappingInfo
from mqtt_bridge.pipeline.buffer.outbox import Commit, Effect, Outbox

from ..support.observe import running_view, serving


@pytest.fixture
def view(tmp_path):
    return running_view(tmp_path, mappings=(MappingInfo(0, "z2m/door", "door_opens", "increment"),))


@pytest.fixture
def endpoint(view):
    with serving(view) as e:
        yield e


def event_time_samples(endpoint) -> dict[str, float]:
    text = requests.get(endpoint.url + "/metrics", timeout=5).text
    return {
        s.labels["outcome"]: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "exist_bridge_event_time_total"
    }


def page(endpoint) -> str:
    return requests.get(endpoint.url + "/", timeout=5).text


def test_metrics_count_event_time_outcomes_every_one_present_from_zero(endpoint, view):
    assert event_time_samples(endpoint) == {
        "payload": 0,
        "missing": 0,
        "unreadable": 0,
        "too_old": 0,
        "in_future": 0,
        "out_of_order": 0,
        "period_dropped": 0,
    }
    box = Outbox(view.state.outbox_path)
    box.commit(
        [
            Commit(
                counters={
                    "event_time.payload": 6,
                    "event_time.too_old": 2,
                    "event_time.out_of_order": 1,
                    "messages": 9,
                    "events": 4,
                }
            )
        ]
    )
    box.commit([Commit(counters={"event_time.too_old": 1, "event_time.period_dropped": 1})])
    box.close()
    got = event_time_samples(endpoint)
    assert (got["payload"], got["too_old"], got["out_of_order"]) == (6, 3, 1)
    assert (got["period_dropped"], got["missing"]) == (1, 0)
    assert "messages" not in got and "events" not in got


def test_the_page_shows_how_event_time_mappings_timed_their_messages(endpoint, view):
    assert 'id="event-time"' not in page(endpoint)  # no event_time mapping has counted yet
    box = Outbox(view.state.outbox_path)
    box.commit(
        [
            Commit(
                counters={
                    "event_time.payload": 6,
                    "event_time.too_old": 2,
                    "event_time.missing": 1,
                    "event_time.period_dropped": 1,
                }
            )
        ]
    )
    box.close()
    html = page(endpoint)
    found = re.search(r'<dd id="event-time">(.*?)</dd>', html, re.S)
    assert found, html
    text = " ".join(found.group(1).split())
    # as `exist-bridge status` prints it: payloads first, then the other outcomes by name
    assert text.startswith("6 from payloads, missing: 1, period_dropped: 1, too_old: 2")


def test_the_page_lists_every_pending_and_refused_row_and_says_how_many_sent_are_left_out(
    endpoint, view
):
    box = Outbox(view.state.outbox_path)
    old = [(date(2025, 1, 1) + timedelta(days=i)).isoformat() for i in range(130)]
    new = [(date(2026, 1, 1) + timedelta(days=i)).isoformat() for i in range(150)]
    box.commit([Commit(effects=[Effect("steps", d, "update", 100)]) for d in old + new])
    pending = {(p.attribute, p.date): p for p in box.pending()}
    for d in new:  # the 150 newest days were sent
        p = pending[("steps", d)]
        box.mark_sent("steps", d, p.version, 100)
    for d in old[:30]:  # 30 old ones refused, 100 old ones still pending
        p = pending[("steps", d)]
        box.mark_failed("steps", d, p.version, "validation", "no")
    box.close()
    html = page(endpoint)
    assert html.count('<tr class="pending">') == 100
    assert html.count('<tr class="refused">') == 30
    sent = html.count('<tr class="sent">')
    assert 0 < sent < 150
    assert re.search(rf'id="more-sent">\s*{150 - sent} more sent', html), html
