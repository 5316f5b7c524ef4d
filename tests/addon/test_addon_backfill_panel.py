"""The backfill panel in the running add-on, in headless Chromium behind an ingress-like proxy:
``exist-bridge addon`` as a process (its broker from a fake Supervisor, the mock Exist over real
HTTP), Home Assistant's websocket API a stand-in serving a year of hourly statistics for three
sensors (``support/ha_statistics``, the same year the CLI's and the real Home Assistant's tests
send). The user picks the statistics, their attributes, kinds and a unit, shows the plan, runs
it, stops it half-way (the mock made slow), resumes it: every day lands exactly, in
ceil(days x attributes / 35) update requests."""

from __future__ import annotations

import json
import math

import pytest

from ..support.addon import SUPERVISOR_TOKEN, Addon, healthz_until
from ..support.backfill import writes
from ..support.browser import chromium, console_errors, docs_screenshot, screenshot
from ..support.ha_statistics import DAYS, FIRST, StatisticsServer, YearOfStatistics
from ..support.ingress import IngressProxy
from ..support.waiting import wait_until

pytestmark = pytest.mark.slow  # the add-on as a process, a broker, the mock, a browser

MAPPINGS = """\
attributes:
  - template: steps
  - {name: energy_kwh, label: Energy kwh, group: custom, value_type: 1}
  - {name: room_temp, label: Room temp, group: custom, value_type: 1}
mappings:
  - topic: homeassistant/sensor/phone_steps/state
    attribute: steps
"""
# statistic -> (attribute, kind, unit) as the user picks them
PICKS = {
    "sensor.energy": ("energy_kwh", "change", "kWh"),
    "sensor.phone_steps": ("steps", "max", ""),
    "sensor.temperature": ("room_temp", "mean", ""),
}


class PanelAddon(Addon):
    """The add-on with Home Assistant's websocket API at ``websocket``."""

    def __init__(self, work, websocket: str):
        super().__init__(work)
        self.websocket = websocket
        options = json.loads((work / "data" / "options.json").read_text())
        options["timezone"] = "Europe/Berlin"
        (work / "data" / "options.json").write_text(json.dumps(options))
        (work / "config").mkdir()
        (work / "config" / "exist-bridge.yaml").write_text(MAPPINGS)

    def command(self) -> list[str]:
        return [
            *super().command(),
            "--home-assistant-websocket",
            self.websocket,
            "--ingress-peer",
            "127.0.0.1",  # the ingress proxy here
        ]


@pytest.fixture
def addon(tmp_path):
    ha = StatisticsServer(token=SUPERVISOR_TOKEN).start()  # the add-on's token, as proxied
    year = YearOfStatistics()
    year.serve(ha)
    a = PanelAddon(tmp_path / "addon", ha.url)
    a.year = year
    try:
        a.start()
        healthz_until(a, 200)
        yield a
    finally:
        a.close()
        ha.stop()


def test_the_panel_plans_runs_stops_and_resumes_a_year(addon, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    last = FIRST.fromordinal(FIRST.toordinal() + DAYS - 1)
    requests = math.ceil(DAYS * 3 / 35)
    with IngressProxy(addon.url) as proxy, chromium(tmp_path) as browser:
        browser.get(proxy.url)
        browser.find_element(By.ID, "link-backfill").click()
        wait_until(lambda: len(browser.find_elements(By.CSS_SELECTOR, "tr[data-entity]")) == 3)
        assert browser.current_url == proxy.url + "backfill/"
        for row in browser.find_elements(By.CSS_SELECTOR, "tr[data-entity]"):
            attribute, kind, unit = PICKS[row.get_attribute("data-entity")]
            row.find_element(By.CLASS_NAME, "use").click()
            Select(row.find_element(By.CLASS_NAME, "attribute")).select_by_value(attribute)
            Select(row.find_element(By.CLASS_NAME, "kind")).select_by_value(kind)
            row.find_element(By.CLASS_NAME, "unit-wanted").send_keys(unit)
        browser.execute_script(
            "document.getElementById('from').value = arguments[0];"
            "document.getElementById('to').value = arguments[1];",
            FIRST.isoformat(),
            last.isoformat(),
        )
        browser.find_element(By.ID, "show-plan").click()
        plan = browser.find_element(By.ID, "plan")
        problem = browser.find_element(By.ID, "problem")
        wait_until(
            lambda: "to send:" in plan.text, timeout=60, message=lambda: plan.text + problem.text
        )
        assert f"to send: {DAYS * 3} total(s) in {requests} request(s)" in plan.text
        assert plan.text.count(f"statistics: {FIRST}..{last}") == 3
        assert writes(addon.mock) == []  # the plan sent nothing
        screenshot(browser, tmp_path, "backfill-panel-plan")

        # slow Exist down, run, and stop it part-way
        addon.mock.state.add_fault(
            "/api/2/attributes/update/", mode="latency", latency=0.3, count=None
        )
        browser.find_element(By.ID, "run").click()
        wait_until(lambda: len(writes(addon.mock)) >= 3, timeout=60)
        browser.find_element(By.ID, "stop").click()
        state = browser.find_element(By.ID, "state")
        wait_until(lambda: state.text == "stopped", timeout=30, message=lambda: state.text)
        sent = len(writes(addon.mock))
        assert 3 <= sent < requests
        assert browser.find_element(By.ID, "run").text == "Resume"
        assert "what Exist confirmed is kept: Resume sends the rest" in plan.text
        assert f"/{requests} requests" in browser.find_element(By.ID, "progress").text
        screenshot(browser, tmp_path, "backfill-panel-stopped")

        # resume at full speed: only the rest is sent
        addon.mock.state.clear_faults()
        browser.find_element(By.ID, "run").click()
        wait_until(lambda: state.text == "done", timeout=120, message=lambda: state.text)
        screenshot(browser, tmp_path, "backfill-panel-done")
        browser.set_window_size(1100, 900)
        docs_screenshot(browser, tmp_path, "backfill-panel")
        assert console_errors(browser) == []
        shown = browser.find_element(By.ID, "plan").text
    for attribute, days in addon.year.truth.items():
        assert addon.mock.state.values(attribute) == pytest.approx(days), attribute
    assert len(writes(addon.mock)) == requests == 32  # none twice, none lost across the stop
    assert f"already sent by an earlier run: {sent * 35}" in shown
    assert "backfill from the panel stopped" in addon.log_text()
