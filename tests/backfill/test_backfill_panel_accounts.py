"""The backfill panel in a household (``exist.accounts``): the page offers the accounts (the first
preselected, said to be the default) and each account's attributes; a plan and a run go to the
account chosen, with its client; an account the configuration lacks is refused. werkzeug's test
client over the WSGI application, the websocket stand-in for Home Assistant, the mock Exist over
HTTP with two users."""

from __future__ import annotations

import json
import re
import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from werkzeug.test import Client

from mqtt_bridge.backfill.panel import BackfillPanel, HomeAssistantAccess
from mqtt_bridge.config import parse_config

from ..support.ha_statistics import StatisticsServer
from ..support.waiting import wait_until

pytestmark = pytest.mark.slow  # the mock over HTTP, a websocket server

HOUSEHOLD = """
exist:
  base_url: {url}
  timezone: Europe/Berlin
  accounts:
    - name: alice
      token: {alice}
    - name: bob
      token: {bob}
bridge:
  state_dir: {state}
attributes:
  - template: steps
  - {{name: energy_kwh, label: Energy kwh, group: custom, value_type: 1}}
mappings:
  - topic: homeassistant/sensor/phone_steps/state
    attribute: steps
  - topic: homeassistant/sensor/energy/state
    attribute: energy_kwh
    account: bob
"""
BODY = {"start": "2024-01-01", "end": "2024-01-02", "entities": ["sensor.energy=energy_kwh:change"]}


@pytest.fixture
def panel(mock_exist, tmp_path):
    ha = StatisticsServer().start()
    first = datetime(2024, 1, 1, tzinfo=ZoneInfo("Europe/Berlin"))
    rows = [{"start": first + timedelta(hours=n), "sum": 1.0 * n} for n in range(49)]
    ha.add("sensor.energy", rows, unit="kWh", unit_class="energy", has_sum=True)
    mock_exist.state.add_user("bob", timezone="Europe/Berlin")
    bob = mock_exist.state.issue_token(username="bob")["access_token"]
    text = HOUSEHOLD.format(
        url=mock_exist.url, alice=mock_exist.token, bob=bob, state=tmp_path / "state"
    )
    access = HomeAssistantAccess("http://ha.invalid", ha.url, ha.token)
    yield BackfillPanel(parse_config(text), access)
    ha.stop()


def test_the_page_offers_the_accounts_and_each_ones_attributes(panel):
    page = Client(panel).get("/backfill/").text
    assert re.search(
        r'<select id="account"><option value="alice" selected>alice \(the default\)</option>'
        r'<option value="bob">bob</option></select>',
        page,
    ), page
    attributes = re.search(r"const ATTRIBUTES = (\{.*?\});", page)
    assert attributes is not None
    assert json.loads(attributes.group(1)) == {"alice": ["steps"], "bob": ["energy_kwh"]}


def test_a_plan_and_a_run_go_to_the_account_chosen(panel, mock_exist):
    client = Client(panel)
    plan = client.post("/backfill/plan", json={**BODY, "account": "bob"})
    assert plan.status_code == 200, plan.text
    assert plan.json["lines"][0].endswith("(Europe/Berlin) for account bob")
    # the first hour's sum is the base: 23 and 24 hours of 1 kWh
    assert "  energy_kwh: 2 day(s) 2024-01-01..2024-01-02, total 47; " in "\n".join(
        plan.json["lines"]
    )
    # without an account: the first (alice), whose mappings don't write energy_kwh
    default = client.post("/backfill/plan", json=BODY)
    assert default.status_code == 200, default.text
    assert default.json["lines"][0].endswith("for account alice")
    assert any("is neither an attribute of account alice" in line for line in default.json["lines"])

    started = client.post("/backfill/run", json={**BODY, "account": "bob"})
    assert started.status_code == 200, started.text
    wait_until(lambda: client.get("/backfill/progress.json").json["state"] == "done", timeout=30)
    assert mock_exist.state.values("energy_kwh", username="bob") == {
        "2024-01-01": 23.0,
        "2024-01-02": 24.0,
    }
    assert mock_exist.state.values("energy_kwh") == {}  # alice's account: nothing
    journal = mock_exist.state.journal("/api/2/attributes/update/")
    assert {j["username"] for j in journal} == {"bob"}


def test_an_account_the_configuration_lacks_is_refused(panel):
    answer = Client(panel).post("/backfill/plan", json={**BODY, "account": "carol"})
    assert answer.status_code == 400
    assert answer.json["error"] == (
        "--account carol: exist.accounts has no account of that name (it has alice, bob)"
    )


def test_in_a_browser_the_account_chosen_sets_the_attributes_offered_and_the_run(
    panel, mock_exist, tmp_path
):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    from werkzeug.serving import make_server

    from ..support.browser import chromium, console_errors

    server = make_server("127.0.0.1", 0, panel, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with chromium(tmp_path) as browser:
            browser.get(f"http://127.0.0.1:{server.port}/backfill/")
            wait_until(lambda: len(browser.find_elements(By.CSS_SELECTOR, "tr[data-entity]")) == 1)
            row = browser.find_element(By.CSS_SELECTOR, "tr[data-entity]")

            def offered() -> list[str]:
                select = Select(row.find_element(By.CLASS_NAME, "attribute"))
                return [o.get_attribute("value") for o in select.options]

            account = Select(browser.find_element(By.ID, "account"))
            assert account.first_selected_option.text == "alice (the default)"
            assert offered() == ["", "steps"]
            account.select_by_value("bob")
            assert offered() == ["", "energy_kwh"]
            row.find_element(By.CLASS_NAME, "use").click()
            Select(row.find_element(By.CLASS_NAME, "attribute")).select_by_value("energy_kwh")
            browser.execute_script(
                "document.getElementById('from').value = '2024-01-01';"
                "document.getElementById('to').value = '2024-01-02';"
            )
            browser.find_element(By.ID, "run").click()
            state = browser.find_element(By.ID, "state")
            wait_until(lambda: state.text == "done", timeout=30, message=lambda: state.text)
            assert "for account bob" in browser.find_element(By.ID, "plan").text
            assert console_errors(browser) == []
    finally:
        server.shutdown()
    assert mock_exist.state.values("energy_kwh", username="bob") == {
        "2024-01-01": 23.0,
        "2024-01-02": 24.0,
    }
