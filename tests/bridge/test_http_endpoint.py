"""The HTTP endpoint (mqtt_bridge.observe) over real HTTP, around a stand-in for the bridge:
/healthz verdicts, read-only, the ingress base path, metrics before any message, requests counted
by the response hook, and the config keys (off by default, on 127.0.0.1)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
import requests
import responses
from prometheus_client.parser import text_string_to_metric_families

from mqtt_bridge.config import parse_config
from mqtt_bridge.observe import HttpEndpoint, MappingInfo
from mqtt_bridge.observe.metrics import BridgeCollector
from mqtt_bridge.observe.state import count_requests

from ..support.observe import running_view, serving


@pytest.fixture
def view(tmp_path):
    return running_view(
        tmp_path,
        mappings=(MappingInfo(0, "home/door", "door_opens", "increment"),),
        budget_left=270,
        budget_allowed=280,
    )


@pytest.fixture
def endpoint(view):
    with serving(view) as e:
        yield e


def test_healthz_is_200_when_running_and_connected(endpoint):
    r = requests.get(endpoint.url + "/healthz", timeout=5)
    assert r.status_code == 200
    assert r.json()["status"] == "ok"
    assert r.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"phase": "starting"}, "starting: not taking messages in yet"),
        ({"phase": "stopping"}, "stopping"),
        ({"broker_connected": False}, "not connected to the MQTT broker broker.lan:1883"),
        ({"outbox_path": Path("/proc/no/such/outbox.sqlite")}, "the state database can't be read"),
    ],
)
def test_healthz_is_503_with_the_reason(endpoint, view, change, reason):
    view.state = replace(view.state, **change)
    r = requests.get(endpoint.url + "/healthz", timeout=5)
    assert r.status_code == 503
    assert r.json()["status"] == "unhealthy"
    assert r.json()["reason"].startswith(reason)


def test_everything_is_read_only(endpoint):
    r = requests.post(endpoint.url + "/healthz", timeout=5)
    assert r.status_code == 405 and r.headers["Allow"] == "GET, HEAD"
    assert requests.get(endpoint.url + "/nope", timeout=5).status_code == 404


def test_the_page_takes_its_base_from_x_ingress_path_and_links_relatively(endpoint):
    prefix = "/api/hassio_ingress/aBc-123_x"
    page = requests.get(endpoint.url + "/", headers={"X-Ingress-Path": prefix}, timeout=5).text
    assert f'<base href="{prefix}/">' in page
    hrefs = re.findall(r'href="([^"]*)"', page)
    assert {"metrics", "healthz", "status.json"} <= set(hrefs)
    assert [h for h in hrefs if h.startswith(("/", "http"))] == [prefix + "/"]  # the base only


@pytest.mark.parametrize("header", [None, '/x"><script>alert(1)</script>', "http://evil/"])
def test_no_base_without_a_plausible_ingress_path(endpoint, header):
    headers = {"X-Ingress-Path": header} if header else {}
    page = requests.get(endpoint.url + "/", headers=headers, timeout=5).text
    assert "<base" not in page and "<script>" not in page


def metrics(endpoint) -> dict:
    text = requests.get(endpoint.url + "/metrics", timeout=5).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_have_every_mapping_at_zero_before_any_message(endpoint, view):
    m = metrics(endpoint)
    labels = (("attribute", "door_opens"), ("mapping", "0"), ("topic", "home/door"))
    for outcome in ("received", "counted", "skipped", "rejected"):
        assert m[(f"exist_bridge_messages_{outcome}_total", labels)] == 0
    view.tally.message(0, "received")
    view.tally.message(0, "counted")
    m = metrics(endpoint)
    assert m[("exist_bridge_messages_received_total", labels)] == 1
    assert m[("exist_bridge_messages_counted_total", labels)] == 1
    assert m[("exist_bridge_budget_left_requests", ())] == 270
    assert m[("exist_bridge_pending_totals", ())] == 0
    assert ("exist_bridge_last_sync_timestamp_seconds", ()) not in m  # never synced


@responses.activate
def test_requests_to_exist_are_counted_by_endpoint_and_status_429s_apart(view):
    class Adapter:  # what count_requests looks for: exist.client.session
        class client:
            session = requests.Session()

    count_requests(Adapter, view.tally)
    url = "https://exist.io/api/2/attributes/update/"
    responses.add(responses.POST, url, status=200, json={"success": [], "failed": []})
    responses.add(responses.POST, url, status=429, json={"detail": "slow down"})
    Adapter.client.session.post(url, json=[])
    Adapter.client.session.post(url, json=[])
    families = {
        f.name: f for f in BridgeCollector(lambda: (view.state, None, view.tally)).collect()
    }
    requests_total = {
        tuple(s.labels.values()): s.value for s in families["exist_bridge_exist_requests"].samples
    }
    assert requests_total == {
        ("POST", "/api/2/attributes/update/", "200"): 1,
        ("POST", "/api/2/attributes/update/", "429"): 1,
    }
    assert families["exist_bridge_exist_rate_limited"].samples[0].value == 1


def test_the_endpoint_is_off_by_default_and_local_when_on():
    base = "exist: {token: t, timezone: UTC}\nmappings: [{topic: a, attribute: steps}]\n"
    off = parse_config(base)
    assert (off.http.enabled, off.http.host, off.http.port) == (False, "127.0.0.1", 8099)
    on = parse_config(base + "http: {enabled: true, port: 9100}\n")
    assert (on.http.enabled, on.http.host, on.http.port) == (True, "127.0.0.1", 9100)


def test_a_port_in_use_is_a_one_line_error(view, endpoint):
    with pytest.raises(OSError) as err:
        HttpEndpoint(view, "127.0.0.1", endpoint.port)
    assert str(err.value) == (
        f"http: cannot listen on 127.0.0.1:{endpoint.port} (Address already in use); set "
        "http.host and http.port to a free address"
    )


def test_pending_and_refused_gauges_count_every_row(endpoint, view):
    from mqtt_bridge.pipeline.buffer.outbox import Commit, Effect, Outbox

    box = Outbox(view.state.outbox_path)
    days = [f"2026-01-{d:02d}" for d in range(1, 31)]
    box.commit(
        [Commit(effects=[Effect("steps", day, "update", 100 + i)]) for i, day in enumerate(days)]
    )
    for p in box.pending()[:25]:
        box.mark_failed(p.attribute, p.date, p.version, "validation", "no")
    box.close()
    m = metrics(endpoint)
    assert m[("exist_bridge_refused_totals", ())] == 25  # not only the 20 status() lists
    assert m[("exist_bridge_pending_totals", ())] == 5
    page = requests.get(endpoint.url + "/", timeout=5).text
    assert page.count('<tr class="refused">') == 25 and page.count('<tr class="pending">') == 5


def test_the_exist_mirror_on_the_page_and_in_the_metrics(endpoint, view):
    m = metrics(endpoint)
    assert not [name for name, _ in m if name.startswith("exist_bridge_read_")]  # no read:
    assert 'id="read"' not in requests.get(endpoint.url + "/", timeout=5).text
    view.state = replace(
        view.state,
        read={
            "attributes": 20,
            "refreshes": 3,
            "last_refresh": "2026-12-07T08:00:00+00:00",
            "postponed": "a write to Exist is due: reads wait for it",
        },
    )
    m = metrics(endpoint)
    assert m[("exist_bridge_read_refreshes_total", ())] == 3
    assert m[("exist_bridge_read_attributes", ())] == 20
    assert m[("exist_bridge_read_waiting", ())] == 1
    page = requests.get(endpoint.url + "/", timeout=5).text
    assert (
        "20 attribute(s), last refresh 2026-12-07T08:00:00+00:00; waiting: a write to Exist is "
        "due: reads wait for it"
    ) in page
