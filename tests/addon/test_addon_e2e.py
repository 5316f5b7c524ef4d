"""The add-on end to end: ``exist-bridge addon`` as a process, a local fake Supervisor over real
HTTP (the only source of the broker's credentials), a real mosquitto that refuses anonymous
clients, and the mock Exist over real HTTP. Then the HTTP endpoint: /healthz, /metrics (parsed by
prometheus_client's own parser), the status page in headless Chromium through an ingress-like
path prefix, and /healthz turning 503 when the broker stops.

The tests of this module share one running add-on (the ``addon`` fixture); the last one stops its
broker.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time

import paho.mqtt.client as mqtt
import pytest
import requests
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client.parser import text_string_to_metric_families

from ..support.addon import (
    MQTT_PASSWORD,
    MQTT_USER,
    SUPERVISOR_TOKEN,
    Addon,
    healthz_until,
    wait_for,
)
from ..support.browser import chromium, console_errors, docs_screenshot, screenshot
from ..support.days import today
from ..support.ingress import IngressProxy

pytestmark = pytest.mark.slow  # a broker, the mock, the add-on as a process and a browser

MAPPINGS = """\
attributes:
  - name: fridge_opens
    label: Fridge opens
    group: food
    value_type: 0
  - template: steps
mappings:
  - topic: zigbee2mqtt/+/fridge
    attribute: fridge_opens
    json_path: contact
    edge: {from: true, to: false}
  - topic: homeassistant/sensor/steps/state
    attribute: steps
    mode: update
"""

FRIDGE = [True, False, False, True, False, True, True, False]  # 3 true->false edges
STEPS = ["1200", "3400", "5021"]
BAD = b"not json at all"  # to the fridge topic: a dead letter


def publish_all(port: int) -> None:
    client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="devices")
    client.username_pw_set(MQTT_USER, MQTT_PASSWORD)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        for contact in FRIDGE:
            info = client.publish("zigbee2mqtt/kitchen/fridge", json.dumps({"contact": contact}), 1)
            info.wait_for_publish(10)
        client.publish("zigbee2mqtt/kitchen/fridge", BAD, qos=1).wait_for_publish(10)
        for total in STEPS:
            client.publish("homeassistant/sensor/steps/state", total, qos=1).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.fixture(scope="module")
def addon(tmp_path_factory):
    """The add-on started twice, as a user would: first with no mappings file (it writes the
    starter and stops), then with the mappings written, once healthy the devices' messages
    published and their values arrived in the mock. Each test checks one part of that."""
    a = Addon(tmp_path_factory.mktemp("addon"))
    try:
        a.first_start = subprocess.run(
            a.command(), env=a.env, capture_output=True, text=True, timeout=60
        )
        a.first_requests = list(a.supervisor.requests)
        (a.work / "config").mkdir(exist_ok=True)  # so a failed first start fails its test only
        (a.work / "config" / "exist-bridge.yaml").write_text(MAPPINGS)
        a.start()
        a.first_health = healthz_until(a, 200)
        publish_all(a.broker.port)
        wait_for(
            "the values in the mock",
            lambda: (
                a.mock.state.value("fridge_opens", today()) == 3
                and a.mock.state.value("steps", today()) == 5021
            ),
        )
        yield a
    finally:
        a.close()


def test_first_start_writes_a_starter_mappings_file_and_says_so(addon):
    result = addon.first_start
    starter = addon.work / "config" / "exist-bridge.yaml"
    assert starter.exists()
    assert "wrote a starter mappings file to " + str(starter) in result.stderr
    # the starter holds commented examples only: nothing runs until the user adds mappings
    assert result.returncode == 1
    assert "exist-bridge.yaml:9: no mappings yet: uncomment the examples from line 9 on" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr
    # the credentials came from the Supervisor, asked with the add-on's token
    assert addon.first_requests == [("/services/mqtt", f"Bearer {SUPERVISOR_TOKEN}")]


def test_the_addon_runs_and_values_land_in_the_mock(addon):
    health = addon.first_health
    assert health.json()["status"] == "ok"
    assert health.json()["broker"] == f"127.0.0.1:{addon.broker.port}"
    assert addon.mock.state.value("fridge_opens", today()) == 3
    assert addon.mock.state.value("steps", today()) == 5021
    log = addon.log_text()
    assert MQTT_PASSWORD not in log and addon.mock.token not in log
    assert "from the Supervisor's MQTT service" in log


def _metrics(addon) -> dict[tuple[str, tuple], float]:
    text = requests.get(addon.url + "/metrics", timeout=5).text
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def test_metrics_parse_and_match_what_was_published(addon):
    # the flush that carried the values has been recorded once nothing is pending
    m = wait_for(
        "no pending totals",
        lambda: (m := _metrics(addon))[("exist_bridge_pending_totals", ())] == 0 and m,
    )
    fridge = (("attribute", "fridge_opens"), ("mapping", "0"), ("topic", "zigbee2mqtt/+/fridge"))
    steps = (
        ("attribute", "steps"),
        ("mapping", "1"),
        ("topic", "homeassistant/sensor/steps/state"),
    )
    assert m[("exist_bridge_messages_received_total", fridge)] == len(FRIDGE) + 1
    assert m[("exist_bridge_messages_counted_total", fridge)] == 3  # the edges
    assert m[("exist_bridge_messages_skipped_total", fridge)] == len(FRIDGE) - 3
    assert m[("exist_bridge_messages_rejected_total", fridge)] == 1  # the bad payload
    assert m[("exist_bridge_messages_received_total", steps)] == len(STEPS)
    assert m[("exist_bridge_messages_counted_total", steps)] == len(STEPS)
    dead = {k[1]: v for k, v in m.items() if k[0] == "exist_bridge_dead_letters_total"}
    assert sum(dead.values()) == 1
    assert m[("exist_bridge_broker_connected", ())] == 1
    assert m[("exist_bridge_running", ())] == 1
    assert m[("exist_bridge_build_info", (("version", _version()),))] == 1
    # requests to Exist as the mock saw them: the same count per endpoint and status
    seen: dict[tuple, float] = {}
    for key, value in m.items():
        if key[0] == "exist_bridge_exist_requests_total":
            labels = dict(key[1])
            seen[(labels["method"], labels["endpoint"], labels["status"])] = value
    journal: dict[tuple, int] = {}
    for j in addon.mock.state.journal():
        key = (j["method"], j["path"], str(j["status"]))
        journal[key] = journal.get(key, 0) + 1
    assert seen == journal
    assert ("POST", "/api/2/attributes/update/", "200") in seen
    assert m[("exist_bridge_exist_rate_limited_total", ())] == 0
    assert 0 < m[("exist_bridge_budget_left_requests", ())] < 280
    assert abs(m[("exist_bridge_last_sync_timestamp_seconds", ())] - time.time()) < 120


def _version() -> str:
    from mqtt_bridge.exist.version import __version__

    return __version__


def test_status_page_in_a_headless_browser_behind_an_ingress_path(addon, tmp_path):
    with IngressProxy(addon.url) as proxy, chromium(tmp_path) as browser:
        browser.get(proxy.url)
        from selenium.webdriver.common.by import By

        assert browser.find_element(By.ID, "health").text == "healthy"
        assert "connected" in browser.find_element(By.ID, "broker").text
        assert "not connected" not in browser.find_element(By.ID, "broker").text
        rows = [
            [td.text for td in tr.find_elements(By.TAG_NAME, "td")]
            for tr in browser.find_elements(By.CSS_SELECTOR, "#days tr")[1:]
        ]
        assert sorted(r[:4] for r in rows) == [
            ["fridge_opens", today(), "3", "sent"],
            ["steps", today(), "5021", "sent"],
        ]
        assert "requests left this hour" in browser.find_element(By.ID, "budget").text
        messages = browser.find_element(By.ID, "messages").text
        assert messages.startswith(f"{len(FRIDGE) + 1 + len(STEPS)} received, 6 counted, 5 skipped")
        screenshot(browser, tmp_path, "addon-status-page")
        docs_screenshot(browser, tmp_path, "status-page")
        assert console_errors(browser) == []
        # the panel as the Home Assistant app shows it on a phone: the same page, narrow
        browser.set_window_size(412, 915)
        assert browser.find_element(By.ID, "health").text == "healthy"
        docs_screenshot(browser, tmp_path, "ingress-panel")
        # the links are relative: they stay under the ingress path
        browser.find_element(By.ID, "link-metrics").click()
        wait_for("the metrics page", lambda: "exist_bridge_" in browser.page_source)
        assert browser.current_url == proxy.url + "metrics"
    # every request but the browser's own favicon probe of the plain-text metrics page
    asked = [p for p in proxy.seen if p != "/favicon.ico"]
    assert asked == [proxy.prefix + "/", proxy.prefix + "/metrics"]


def test_healthz_says_503_with_the_reason_when_the_broker_stops(addon):
    addon.broker.stop()
    answer = healthz_until(addon, 503)
    assert answer.json()["status"] == "unhealthy"
    assert (
        answer.json()["reason"] == f"not connected to the MQTT broker 127.0.0.1:{addon.broker.port}"
    )
    m = _metrics(addon)
    assert m[("exist_bridge_broker_connected", ())] == 0
    # the watchdog's /livez: alive (a restart can't bring the broker back), every thread running
    live = requests.get(addon.url + "/livez", timeout=5)
    assert live.status_code == 200, live.text
    assert live.json()["status"] == "alive" and "dead_threads" not in live.json()
    addon.proc.send_signal(signal.SIGTERM)
    assert addon.proc.wait(60) == 0
