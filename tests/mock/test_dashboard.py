"""Issue 16 (1): the dashboard at ``/_mock/``, over HTTP and in a real headless browser."""

from __future__ import annotations

import re

import pytest
import requests

from mock_exist.server import MockServer
from tests.support.browser import chromium, console_errors, docs_screenshot, screenshot

DAY = "2024-05-01"


def write(mock, path: str, items: list) -> requests.Response:
    return requests.post(
        f"{mock.url}/api/2/attributes/{path}/",
        json=items,
        timeout=10,
        headers={"Authorization": f"Bearer {mock.token}"},
    )


@pytest.fixture
def scene(mock_exist):
    """A frozen clock, an attribute with three days of values written over the API, a 429."""
    mock_exist.state.set_clock("2024-05-01T09:00:00+00:00")
    assert write(mock_exist, "acquire", [{"template": "steps"}]).status_code == 200
    assert (
        write(
            mock_exist,
            "update",
            [
                {"name": "steps", "date": "2024-04-29", "value": 1200},
                {"name": "steps", "date": "2024-04-30", "value": 8000},
                {"name": "steps", "date": DAY, "value": 4321},
            ],
        ).status_code
        == 200
    )
    assert (
        write(mock_exist, "update", [{"name": "nope", "date": DAY, "value": 1}]).status_code == 202
    )
    return mock_exist


# ------------------------------------------------------------------ over HTTP


def test_dashboard_shows_values_owner_clock_rate_limit_journal_and_ledger(scene):
    r = requests.get(f"{scene.url}/_mock/", timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    page = r.text
    bars = dict(re.findall(r'<rect class="bar" data-date="([\d-]+)" data-value="([^"]+)"', page))
    assert bars == {"2024-04-29": "1200", "2024-04-30": "8000", DAY: "4321"}
    assert "Mock client <code>mock_client</code>" in page  # the owner
    assert "2024-05-01T09:00:00+00:00" in page and "(frozen)" in page
    assert "300 requests per 3600 s per token, sliding window" in page
    assert page.count('class="change"') == 3  # the ledger
    assert page.count('class="entry"') == 3  # the journal: acquire, 2 updates


def test_journal_filters_by_path_and_status(scene):
    requests.get(f"{scene.url}/api/2/accounts/profile/", timeout=10)  # 401
    page = requests.get(f"{scene.url}/_mock/", params={"status": "4xx"}, timeout=10).text
    assert re.findall(r'class="entry" data-status="(\d+)"', page) == ["401"]
    page = requests.get(
        f"{scene.url}/_mock/",
        params={"path": "/api/2/attributes/update/", "status": "202"},
        timeout=10,
    ).text
    assert re.findall(r'class="entry" data-status="(\d+)"', page) == ["202"]
    assert "User doesn&#39;t have an attribute named" in page  # the answer is shown, escaped
    entries = requests.get(
        f"{scene.url}/_mock/journal",
        timeout=10,
        params={"status": "2xx", "order": "newest", "limit": 1},
    ).json()
    assert [e["status"] for e in entries] == [202]  # the same filters in the control API
    assert entries[0]["answer"]["failed"][0]["error_code"] == "not_found"


def test_dashboard_escapes_what_clients_sent(mock_exist):
    mock_exist.state.add_user("<b>x</b>")
    page = requests.get(f"{mock_exist.url}/_mock/", timeout=10).text
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page


def test_dashboard_with_an_admin_token_sets_a_cookie_for_the_control_api():
    with MockServer({"admin_token": "s3cret"}) as server:
        assert requests.get(f"{server.url}/_mock/", timeout=10).status_code == 401
        session = requests.Session()
        assert (
            session.get(
                f"{server.url}/_mock/", params={"admin_token": "wrong"}, timeout=10
            ).status_code
            == 401
        )
        r = session.get(f"{server.url}/_mock/", params={"admin_token": "s3cret"}, timeout=10)
        assert r.status_code == 200
        assert (
            session.post(f"{server.url}/_mock/clock", json={"advance": 60}, timeout=10).status_code
            == 200
        )  # the cookie is enough


# ------------------------------------------------------------------ in a real browser


def _reloading(driver, action) -> None:  # noqa: ANN001
    """Run ``action`` (a click that makes the page reload itself) and wait for the new page:
    a mark left on the old page's ``window`` is gone and the new one has loaded."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    driver.execute_script("window.__old_page = true")
    action()
    WebDriverWait(driver, 15, ignored_exceptions=(WebDriverException,)).until(
        lambda d: d.execute_script(
            "return window.__old_page === undefined && document.readyState === 'complete'"
        )
    )


def test_dashboard_in_a_headless_browser(scene, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    with chromium(tmp_path) as driver:
        driver.get(f"{scene.url}/_mock/")
        assert driver.title == "mock-exist dashboard"
        bar = driver.find_element(
            By.CSS_SELECTOR, f'svg[data-attribute="steps"] rect.bar[data-date="{DAY}"]'
        )
        assert bar.get_attribute("data-value") == "4321"
        assert float(bar.get_attribute("height")) > 0
        screenshot(driver, tmp_path, "dashboard-loaded")

        # move the clock from the page: "+1 day", then a date typed into the form
        _reloading(driver, driver.find_element(By.XPATH, '//button[text()="+1 day"]').click)
        assert driver.find_element(By.ID, "clock-now").text == "2024-05-02T09:00:00+00:00"
        assert scene.state.clock.now().isoformat() == "2024-05-02T09:00:00+00:00"
        when = driver.find_element(By.CSS_SELECTOR, '#clock-form input[name="now"]')
        driver.execute_script("arguments[0].value = '2024-06-10T08:30:00'", when)
        _reloading(
            driver, driver.find_element(By.CSS_SELECTOR, "#clock-form button[type=submit]").click
        )
        assert driver.find_element(By.ID, "clock-now").text == "2024-06-10T08:30:00+00:00"
        screenshot(driver, tmp_path, "dashboard-clock-moved")

        # add a fault from the page
        form = driver.find_element(By.ID, "fault-form")
        path = form.find_element(By.NAME, "path")
        path.clear()
        path.send_keys("/api/2/accounts/profile/")
        Select(form.find_element(By.NAME, "mode")).select_by_visible_text("html_error")
        count = form.find_element(By.NAME, "count")
        count.clear()
        count.send_keys("2")
        _reloading(driver, form.find_element(By.XPATH, './/button[text()="Add fault"]').click)
        rows = driver.find_elements(By.CSS_SELECTOR, "#fault-rules tr.fault")
        assert len(rows) == 1 and "html_error" in rows[0].text
        [rule] = requests.get(f"{scene.url}/_mock/faults", timeout=10).json()
        assert (rule["path"], rule["mode"], rule["status"], rule["count"]) == (
            "/api/2/accounts/profile/",
            "html_error",
            502,
            2,
        )
        r = requests.get(
            f"{scene.url}/api/2/accounts/profile/",
            timeout=10,
            headers={"Authorization": f"Bearer {scene.token}"},
        )
        assert r.status_code == 502  # the fault added from the page bites
        driver.refresh()
        assert "1 / 1" in driver.find_element(By.CSS_SELECTOR, "#fault-rules tr.fault").text
        screenshot(driver, tmp_path, "dashboard-fault-added")
        docs_screenshot(driver, tmp_path, "mock-dashboard")

        # clear them from the page
        _reloading(
            driver, driver.find_element(By.XPATH, '//button[text()="Clear all faults"]').click
        )
        assert driver.find_elements(By.CSS_SELECTOR, "#fault-rules tr.fault") == []
        assert requests.get(f"{scene.url}/_mock/faults", timeout=10).json() == []

        assert console_errors(driver) == []
