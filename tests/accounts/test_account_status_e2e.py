"""A household's bridge (real mosquitto, the mock over HTTP, two users): `status`, the status
page (in a real browser), /metrics and /healthz show each account, and `check --online` checks
each token."""

from __future__ import annotations

import io
import json

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from mqtt_bridge import cli
from mqtt_bridge.config import parse_config
from mqtt_bridge.observe import HttpEndpoint
from tests.support.browser import chromium, console_errors, screenshot

from ..support.bridge import start_bridge
from ..support.cli import cli as run_cli
from ..support.cli import write_config
from ..support.mqtt import Publisher
from ..support.waiting import wait_until
from .household import add_bob, committed, flush_all, household_config, me, publish_day, requests_of

pytestmark = pytest.mark.slow  # mosquitto, the mock, a browser: see pyproject


def status(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.run(["status", *args], out, err)
    return code, out.getvalue(), err.getvalue()


def scrape(url: str) -> dict:
    text = requests.get(url + "/metrics", timeout=5).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def requests_counted(metrics: dict, account: str) -> float:
    return sum(
        v
        for (name, labels), v in metrics.items()
        if name == "exist_bridge_exist_requests_total" and ("account", account) in labels
    )


def test_a_households_status_metrics_and_page_name_each_account(mock_exist, mosquitto, tmp_path):
    """Bob's budget allows two requests: his totals wait; alice's are sent. Every view says
    whose is what, and the requests counted per account are the mock's."""
    bob_token = add_bob(mock_exist)
    text = household_config(
        mock_exist, mosquitto.port, tmp_path / "state", bob_token, alice_rph=200, bob_rph=2
    )
    path = write_config(tmp_path, text)
    bridge = start_bridge(parse_config(text))
    endpoint = HttpEndpoint(bridge, "127.0.0.1", 0).start()
    pub = Publisher(mosquitto.port)
    try:
        truth = publish_day(pub)
        committed(bridge, truth["messages"])
        flush_all(bridge)
        bridge.write_health()
        alice, bob = requests_of(mock_exist, me(mock_exist)), requests_of(mock_exist, "bob")
        assert len(bob) <= 2
        # /metrics: each account's requests (as the mock saw them), budget and pending totals
        m = scrape(endpoint.url)
        assert requests_counted(m, "alice") == len(alice)
        assert requests_counted(m, "bob") == len(bob)
        assert m[("exist_bridge_budget_left_requests", (("account", "alice"),))] == 200 - len(alice)
        assert m[("exist_bridge_budget_left_requests", (("account", "bob"),))] == 2 - len(bob)
        assert m[("exist_bridge_budget_allowed_requests", (("account", "bob"),))] == 2
        assert m[("exist_bridge_pending_totals", (("account", "alice"),))] == 0
        bob_pending = m[("exist_bridge_pending_totals", (("account", "bob"),))]
        assert bob_pending > 0
        # `status --json` while the bridge runs
        code, out, err = status("-c", str(path), "--json")
        assert code == 0, err
        data = json.loads(out)
        assert data["accounts"]["alice"]["pending_rows"] == 0
        assert data["accounts"]["bob"]["pending_rows"] == bob_pending
        assert data["accounts"]["alice"]["budget"]["left"] == 200 - len(alice)
        assert data["accounts"]["bob"]["budget"]["left"] == 2 - len(bob)
        assert data["accounts"]["bob"]["token_refused"] is None
        waiting = [r for r in data["totals"] if r["state"] == "pending"]
        assert waiting and {r["account"] for r in waiting} == {"bob"}
        assert all(r["why"].startswith("waiting: ") for r in waiting)
        # the text `status`
        code, out, err = status("-c", str(path))
        assert code == 0, err
        lines = out.splitlines()
        assert any(x.startswith("account alice:   0 pending total(s); ") for x in lines), out
        assert any(x.startswith(f"account bob:     {bob_pending:.0f} pending") for x in lines)
        assert [x for x in lines if x.startswith("  account bob: ") and "pending" in x]
        # the status page, in a browser
        with chromium(tmp_path) as driver:
            driver.get(endpoint.url + "/")
            screenshot(driver, tmp_path, "status-page-two-accounts")
            assert console_errors(driver) == []
            table = driver.find_element("id", "accounts").text
            assert "alice" in table and "bob" in table
            assert f"{2 - len(bob)} of 2 left this hour" in table
            days = driver.find_element("id", "days").text.splitlines()
            assert days[0].startswith("Account Attribute Day")
            assert any(row.startswith("bob steps ") for row in days), days
            mappings = driver.find_element("id", "mappings").text.splitlines()
            assert any(row.startswith("1 bob zigbee2mqtt/fridge") for row in mappings), mappings
    finally:
        pub.close()
        endpoint.stop()
        bridge.stop()


def test_a_refused_token_of_one_account_makes_the_bridge_unhealthy_naming_it(
    mock_exist, mosquitto, tmp_path
):
    add_bob(mock_exist)
    text = household_config(mock_exist, mosquitto.port, tmp_path / "state", "not-bobs-token")
    path = write_config(tmp_path, text)
    bridge = start_bridge(parse_config(text))
    endpoint = HttpEndpoint(bridge, "127.0.0.1", 0).start()
    try:
        wait_until(lambda: bridge.accounts["bob"].token_refused is not None)
        assert bridge.accounts["alice"].token_refused is None
        r = requests.get(endpoint.url + "/healthz", timeout=5)
        assert r.status_code == 503
        reason = r.json()["reason"]
        assert reason.startswith("waiting: account bob: Exist refused the token"), reason
        assert "exist.accounts[1].token" in reason and "alice" not in reason
        page = requests.get(endpoint.url + "/", timeout=5).text
        assert 'id="account-bob"' in page and 'class="refused">Exist refused the token' in page
        bridge.write_health()
        code, out, err = status("-c", str(path), "--check")
        assert code == 1
        assert "unhealthy: waiting: account bob: Exist refused the token" in err
        assert any(
            x.startswith("account bob:     waiting: Exist refused") for x in out.splitlines()
        )
        code, out, _ = status("-c", str(path), "--json", "--check")
        data = json.loads(out)
        assert data["accounts"]["bob"]["token_refused"].startswith("Exist refused the token")
        assert data["accounts"]["alice"]["token_refused"] is None
        assert data["healthy"] is False
    finally:
        endpoint.stop()
        bridge.stop()


def test_check_online_checks_each_accounts_token_and_attributes(mock_exist, mosquitto, tmp_path):
    bob_token = add_bob(mock_exist)
    good = write_config(
        tmp_path, household_config(mock_exist, mosquitto.port, tmp_path / "state", bob_token)
    )
    done = run_cli("check", "-c", str(good), "--online")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert any(
        x.startswith(f"account alice: Exist {mock_exist.url}: the token works (user ")
        for x in lines
    ), lines
    assert f"account bob: Exist {mock_exist.url}: the token works (user 'bob', timezone UTC)" in (
        lines
    )
    # each account's attributes: those its mappings write
    for who in ("alice", "bob"):
        mine = [x for x in lines if x.startswith(f"  account {who}: ")]
        assert sorted(x.split(":")[1].strip() for x in mine) == [
            "coffees",
            "fridge_opens",
            "steps",
        ], lines
    assert lines[-1] == "online: 0 problem(s)"
    assert not (tmp_path / "state").exists()
    bad = write_config(
        tmp_path,
        household_config(mock_exist, mosquitto.port, tmp_path / "state", "not-bobs-token"),
        name="bad.yaml",
    )
    done = run_cli("check", "-c", str(bad), "--online")
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert any(
        x.startswith(f"problem: account bob: Exist {mock_exist.url}: Exist refused the token")
        and "exist.accounts[1].token" in x
        for x in lines
    ), lines
    assert any(x.startswith("account alice: ") and "the token works" in x for x in lines)
    assert lines[-1] == "online: 1 problem(s)"


def test_check_online_refuses_two_accounts_whose_tokens_are_one_exist_users(
    mock_exist, mosquitto, tmp_path
):
    """A second token of alice's given as bob's (a different string, so the configuration's
    check can't see it): Exist says whose each token is, and bob's totals would be alice's."""
    alices_other = mock_exist.state.issue_token(username=me(mock_exist))["access_token"]
    assert alices_other != mock_exist.token
    path = write_config(
        tmp_path, household_config(mock_exist, mosquitto.port, tmp_path / "state", alices_other)
    )
    done = run_cli("check", "-c", str(path), "--online")
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert (
        f"problem: account bob: the token is Exist user {me(mock_exist)!r}'s, as account "
        "alice's is: both would write to that one Exist account; give exist.accounts[1] "
        "bob's own token"
    ) in lines, lines
    assert lines[-1] == "online: 1 problem(s)"
