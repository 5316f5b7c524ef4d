"""What a household's bridge shows of each account without a network: `status` (text and
--json) read from a prepared state directory, /metrics and the status page around a stand-in
for the running bridge; and a single-account bridge's output as before there were accounts."""

from __future__ import annotations

import io
import json
import time
from dataclasses import replace

import requests
from prometheus_client.parser import text_string_to_metric_families

from mqtt_bridge import cli
from mqtt_bridge.exist.budget import RequestBudget, token_key
from mqtt_bridge.observe import AccountInfo, MappingInfo
from mqtt_bridge.pipeline.buffer.outbox import Commit, Effect, Outbox
from mqtt_bridge.state_dir import BUDGET_FILE, HEALTH_FILE, OUTBOX_FILE, lock_state_dir

from ..support.config import bridge_config, write_bridge_config
from ..support.observe import running_view, serving
from ..support.status_docs import documented_status_fields

DAY = "2026-12-07"
REFUSED = "Exist refused the token (check exist.accounts[1].token): 401: Invalid token"


def household(tmp_path):
    """A household's configuration file (alice first: the default; bob) and its state dir."""
    text = bridge_config(
        url="http://127.0.0.1:9",
        token=None,
        port=1883,
        state_dir=tmp_path / "state",
        exist={
            "accounts": [
                {"name": "alice", "token": "alice-token", "requests_per_hour": 120},
                {"name": "bob", "token": "bob-token", "requests_per_hour": 60},
            ]
        },
        attributes=[{"template": "coffees"}, {"template": "steps"}],
        mappings=[
            {"topic": "button/alice", "attribute": "coffees"},
            {"topic": "button/bob", "attribute": "coffees", "account": "bob"},
            {"topic": "home/bob/steps", "attribute": "steps", "mode": "update", "account": "bob"},
        ],
    )
    path = tmp_path / "bridge.yaml"
    path.write_text(text)
    return path, tmp_path / "state"


def fill(state) -> None:
    """Alice: coffees sent; bob: coffees and steps pending, sending postponed, 4 requests."""
    state.mkdir(parents=True, exist_ok=True)
    box = Outbox(state / OUTBOX_FILE)
    box.commit(
        [
            Commit(effects=[Effect("coffees", DAY, "increment", 3, account="alice")]),
            Commit(effects=[Effect("coffees", DAY, "increment", 5, account="bob")]),
            Commit(effects=[Effect("steps", DAY, "update", 2999, account="bob")]),
        ]
    )
    alice = Outbox(state / OUTBOX_FILE, account="alice")
    (row,) = alice.pending()
    alice.set_base(row.attribute, row.date, 0)
    alice.mark_sent(row.attribute, row.date, row.version, 3)
    alice.close()
    note = {"reason": "Exist is not answering", "at": time.time(), "seconds": 60}
    box.set_meta("flush_postponed@bob", json.dumps(note))
    box.close()
    for name, token, allowed, used in (
        ("alice", "alice-token", 120, 2),
        ("bob", "bob-token", 60, 4),
    ):
        budget = RequestBudget(state / "accounts" / name / BUDGET_FILE, allowed=allowed)
        for _ in range(used):
            budget.reserve(token_key(token))
    health = {
        "pid": 1,
        "at": time.time(),
        "broker_connected": True,
        "stopped": False,
        "token_refused": f"account bob: {REFUSED}",
        "accounts": {"alice": {"token_refused": None}, "bob": {"token_refused": REFUSED}},
    }
    (state / HEALTH_FILE).write_text(json.dumps(health))


def status(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.run(["status", *args], out, err)
    return code, out.getvalue(), err.getvalue()


def test_status_json_has_each_accounts_pending_budget_postponement_and_token(tmp_path):
    config, state = household(tmp_path)
    fill(state)
    with lock_state_dir(state):  # a bridge "runs": its heartbeat's token lines count
        code, out, err = status("-c", str(config), "--json")
    assert code == 0, err
    data = json.loads(out)
    alice, bob = data["accounts"]["alice"], data["accounts"]["bob"]
    assert (alice["pending_rows"], bob["pending_rows"]) == (0, 2)
    assert (alice["mappings"], bob["mappings"]) == ([0], [1, 2])
    assert (alice["budget"]["left"], alice["budget"]["allowed"]) == (118, 120)
    assert (bob["budget"]["left"], bob["budget"]["allowed"]) == (56, 60)
    assert alice["postponed"] is None and bob["postponed"]["reason"] == "Exist is not answering"
    assert alice["token_refused"] is None and bob["token_refused"] == REFUSED
    assert data["budget"] == alice["budget"]  # the top-level fields: the first account's
    rows = {(r["account"], r["attribute"]): r for r in data["totals"]}
    assert set(rows) == {("alice", "coffees"), ("bob", "coffees"), ("bob", "steps")}
    assert rows[("alice", "coffees")]["why"].startswith("sent ")
    assert rows[("bob", "steps")]["why"].startswith(
        "waiting: sending postponed (Exist is not answering)"
    )
    assert set(data) == documented_status_fields() - {"healthy", "health_problem"}


def test_status_text_names_the_account_on_each_line(tmp_path):
    config, state = household(tmp_path)
    fill(state)
    with lock_state_dir(state):
        code, out, err = status("-c", str(config))
    assert code == 0, err
    lines = out.splitlines()
    assert "account alice:   0 pending total(s); 118 of 120 requests left this hour" in lines
    assert "account bob:     2 pending total(s); 56 of 60 requests left this hour" in lines
    assert f"account bob:     waiting: {REFUSED}" in lines
    assert "account bob:     sending postponed: Exist is not answering" in lines
    assert not [x for x in lines if x.startswith(("budget:", "waiting:"))]  # per account instead
    totals = [x for x in lines if x.startswith("  account ")]
    assert len(totals) == 3
    assert any(
        x.startswith(f"  account bob: steps {DAY}: 2999, pending - waiting:") for x in totals
    )
    assert any(x.startswith(f"  account alice: coffees {DAY}: 3, sent - sent ") for x in totals)


def test_status_check_fails_naming_the_account_whose_token_is_refused(tmp_path):
    config, state = household(tmp_path)
    fill(state)
    with lock_state_dir(state):
        code, _, err = status("-c", str(config), "--check")
    assert code == 1
    assert f"unhealthy: waiting: account bob: {REFUSED}" in err


def test_a_single_account_status_json_has_no_account_fields(tmp_path):
    config = write_bridge_config(
        tmp_path / "bridge.yaml",
        url="http://127.0.0.1:9",
        token="the-token",
        port=1883,
        state_dir=tmp_path / "state",
        attributes=[{"template": "coffees"}],
        mappings=[{"topic": "a", "attribute": "coffees"}],
    )
    state = tmp_path / "state"
    state.mkdir()
    box = Outbox(state / OUTBOX_FILE)
    box.commit([Commit(effects=[Effect("coffees", DAY, "increment", 2)])])
    (row,) = box.pending()
    box.mark_failed(row.attribute, row.date, row.version, "validation", "no")
    box.commit([Commit(effects=[Effect("steps", DAY, "update", 10)])])
    box.close()
    code, out, err = status("-c", str(config), "--json")
    assert code == 0, err
    data = json.loads(out)
    assert "accounts" not in data and "pending_by_account" not in data
    assert data["refused"] == [
        {"attribute": "coffees", "date": DAY, "code": "validation", "error": "no"}
    ]
    assert data["totals"] and not [r for r in data["totals"] if "account" in r]
    code, out, _ = status("-c", str(config))
    assert not [x for x in out.splitlines() if x.startswith("account")]
    assert any(x.startswith("budget:          280 of 280") for x in out.splitlines())


# ------------------------------------------------------------------ the HTTP endpoint


def household_view(tmp_path):
    state = tmp_path / "state"
    fill(state)
    view = running_view(
        tmp_path,
        outbox_path=state / OUTBOX_FILE,
        mappings=(
            MappingInfo(0, "button/alice", "coffees", "increment", "alice"),
            MappingInfo(1, "button/bob", "coffees", "increment", "bob"),
            MappingInfo(2, "home/bob/steps", "steps", "update", "bob"),
        ),
        budget_left=118,
        budget_allowed=120,
        token_refused=f"account bob: {REFUSED}",
        accounts=(
            AccountInfo("alice", (0,), 118, 120),
            AccountInfo("bob", (1, 2), 56, 60, "Exist is not answering", REFUSED),
        ),
    )
    view.tally.request("GET", "/api/2/accounts/profile/", 200, "alice")
    view.tally.request("POST", "/api/2/attributes/update/", 200, "bob")
    view.tally.request("POST", "/api/2/attributes/update/", 429, "bob")
    return view


def scrape(endpoint) -> dict:
    text = requests.get(endpoint.url + "/metrics", timeout=5).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_carry_the_account_label(tmp_path):
    view = household_view(tmp_path)
    with serving(view) as endpoint:
        m = scrape(endpoint)
    req = "exist_bridge_exist_requests_total"
    assert m[(req, (("account", "alice"), ("endpoint", "/api/2/accounts/profile/"),
                    ("method", "GET"), ("status", "200")))] == 1  # fmt: skip
    assert m[(req, (("account", "bob"), ("endpoint", "/api/2/attributes/update/"),
                    ("method", "POST"), ("status", "429")))] == 1  # fmt: skip
    assert m[("exist_bridge_exist_rate_limited_total", (("account", "alice"),))] == 0
    assert m[("exist_bridge_exist_rate_limited_total", (("account", "bob"),))] == 1
    assert m[("exist_bridge_budget_left_requests", (("account", "alice"),))] == 118
    assert m[("exist_bridge_budget_left_requests", (("account", "bob"),))] == 56
    assert m[("exist_bridge_budget_allowed_requests", (("account", "bob"),))] == 60
    assert m[("exist_bridge_pending_totals", (("account", "alice"),))] == 0
    assert m[("exist_bridge_pending_totals", (("account", "bob"),))] == 2
    unlabelled = {
        name
        for name, labels in m
        if not labels and name.startswith(("exist_bridge_budget", "exist_bridge_pending"))
    }
    assert unlabelled == set()


def test_single_account_metrics_have_no_account_label(tmp_path):
    view = running_view(
        tmp_path,
        mappings=(MappingInfo(0, "a", "coffees", "increment"),),
        budget_left=270,
        budget_allowed=280,
    )
    view.tally.request("GET", "/api/2/accounts/profile/", 200)
    with serving(view) as endpoint:
        m = scrape(endpoint)
    assert not [key for key in m if "account" in dict(key[1])]
    assert m[("exist_bridge_budget_left_requests", ())] == 270
    assert m[("exist_bridge_pending_totals", ())] == 0
    assert m[("exist_bridge_exist_rate_limited_total", ())] == 0


def test_the_page_has_an_accounts_table_and_the_account_of_each_row(tmp_path):
    view = household_view(tmp_path)
    with serving(view) as endpoint:
        page = requests.get(endpoint.url + "/", timeout=5).text
        data = requests.get(endpoint.url + "/status.json", timeout=5).json()
    assert 'id="accounts"' in page
    assert "<td>alice</td><td>0</td>" in page and "<td>bob</td><td>1, 2</td>" in page
    assert "56 of 60 left this hour" in page and "postponed: Exist is not answering" in page
    assert REFUSED in page
    assert page.count("<th>Account</th>") == 3  # the accounts, days and mappings tables
    assert f'<tr class="pending"><td>bob</td><td>steps</td><td>{DAY}</td>' in page
    assert data["outbox"]["pending_by_account"] == {"bob": 2}
    assert [m["account"] for m in data["bridge"]["mappings"]] == ["alice", "bob", "bob"]
    assert {d["account"] for d in data["outbox"]["days"]} == {"alice", "bob"}


def test_a_single_account_page_and_status_json_have_no_account(tmp_path):
    view = running_view(tmp_path, mappings=(MappingInfo(0, "a", "coffees", "increment"),))
    box = Outbox(view.state.outbox_path)
    box.commit([Commit(effects=[Effect("coffees", DAY, "increment", 2)])])
    box.close()
    with serving(view) as endpoint:
        page = requests.get(endpoint.url + "/", timeout=5).text
        data = requests.get(endpoint.url + "/status.json", timeout=5).json()
    assert 'id="accounts"' not in page and "<th>Account</th>" not in page
    assert "pending_by_account" not in data["outbox"]
    assert "account" not in data["bridge"]["mappings"][0]
    assert "account" not in data["outbox"]["days"][0]
    assert data["bridge"]["accounts"] == []


def test_healthz_names_the_account_whose_token_is_refused(tmp_path):
    view = household_view(tmp_path)
    with serving(view) as endpoint:
        r = requests.get(endpoint.url + "/healthz", timeout=5)
        assert r.status_code == 503
        assert r.json()["reason"] == f"waiting: account bob: {REFUSED}"
        view.state = replace(view.state, token_refused=None)
        assert requests.get(endpoint.url + "/healthz", timeout=5).status_code == 200
