"""Two Exist accounts, one broker, one bridge: a household's day of messages lands exactly in each
account, each account's requests within its own budget (real mosquitto, the mock over HTTP)."""

from __future__ import annotations

import dataclasses
import json
import logging

import pytest

from mqtt_bridge.config import parse_config
from mqtt_bridge.state_dir import BUDGET_FILE

from ..support.bridge import start_bridge
from ..support.config import bridge_config
from ..support.days import today
from ..support.mqtt import Publisher, Watcher
from ..support.waiting import wait_until
from .household import (
    ATTRIBUTES,
    MAPPINGS,
    add_bob,
    committed,
    flush_all,
    household_config,
    landed,
    me,
    publish_day,
    requests_of,
    stop_without_flushing,
)

pytestmark = pytest.mark.slow  # mosquitto, subprocesses or seconds of work: see pyproject


def test_a_households_day_lands_exactly_in_both_accounts(mock_exist, mosquitto, tmp_path):
    bob_token = add_bob(mock_exist)
    text = household_config(mock_exist, mosquitto.port, tmp_path / "state", bob_token)
    bridge = start_bridge(parse_config(text))
    pub = Publisher(mosquitto.port)
    try:
        for account in list(bridge.accounts.values())[1:]:  # start_bridge sets up the first
            account.exist.bootstrap()
        truth = publish_day(pub)
        committed(bridge, truth["messages"])
        flush_all(bridge)
        assert landed(mock_exist, me(mock_exist)) == truth["alice"]
        assert landed(mock_exist, "bob") == truth["bob"]
        # each account's writes went with its own token, and were batched per account
        alice, bob = requests_of(mock_exist, me(mock_exist)), requests_of(mock_exist, "bob")
        assert alice and bob
        users = {r["username"] for r in mock_exist.state.journal("/api/2/")}
        assert users == {me(mock_exist), "bob"}
        # each account has its own budget, under its own limit
        state = tmp_path / "state"
        alice_budget = json.loads((state / "accounts" / "alice" / BUDGET_FILE).read_text())
        bob_budget = json.loads((state / "accounts" / "bob" / BUDGET_FILE).read_text())
        assert alice_budget != bob_budget
        status = bridge.status()["accounts"]
        assert status["alice"]["budget_allowed"] == 120 and status["bob"]["budget_allowed"] == 60
        assert status["alice"]["budget_left"] == 120 - len(alice)
        assert status["bob"]["budget_left"] == 60 - len(bob)
        assert status["alice"]["pending_rows"] == status["bob"]["pending_rows"] == 0
        # a second flush sends nothing: nothing counted twice
        flush_all(bridge)
        assert landed(mock_exist, me(mock_exist)) == truth["alice"]
        assert landed(mock_exist, "bob") == truth["bob"]
    finally:
        pub.close()
        bridge.stop()


def test_each_accounts_requests_stay_inside_its_own_budget(mock_exist, mosquitto, tmp_path):
    """Bob's budget allows few requests: his totals wait, alice's are all sent."""
    bob_token = add_bob(mock_exist)
    text = household_config(
        mock_exist, mosquitto.port, tmp_path / "state", bob_token, alice_rph=200, bob_rph=2
    )
    bridge = start_bridge(parse_config(text))
    pub = Publisher(mosquitto.port)
    try:
        truth = publish_day(pub)
        committed(bridge, truth["messages"])
        flush_all(bridge)
        assert landed(mock_exist, me(mock_exist)) == truth["alice"]
        assert len(requests_of(mock_exist, "bob")) <= 2
        assert bridge.status()["accounts"]["bob"]["pending_rows"] > 0
        assert bridge.status()["accounts"]["alice"]["pending_rows"] == 0
    finally:
        pub.close()
        bridge.stop()


def test_a_single_account_bridge_becomes_a_household_without_losing_a_total(
    mock_exist, mosquitto, tmp_path, caplog
):
    """Totals and meter states kept by a single-account bridge belong to the first account
    after the configuration lists accounts (one log line); bob starts afresh."""
    state = tmp_path / "state"
    alone = [m for m in MAPPINGS if "account" not in m]
    single = bridge_config(
        url=mock_exist.url,
        token=mock_exist.token,
        port=mosquitto.port,
        state_dir=state,
        client_id="household",
        attributes=ATTRIBUTES,
        mappings=alone,
    )
    bridge = start_bridge(parse_config(single))
    pub = Publisher(mosquitto.port)
    try:
        for _ in range(4):
            pub.publish("button/alice", "press")
        pub.publish("meter/kitchen", {"cups": 50})  # the baseline the household must keep
        committed(bridge, 5)
        assert bridge.outbox.pending_by_account() == {"": 1}  # the single account's coffees
    finally:
        stop_without_flushing(bridge)
    bob_token = add_bob(mock_exist)
    caplog.set_level(logging.INFO, logger="exist_bridge")
    household = start_bridge(
        parse_config(household_config(mock_exist, mosquitto.port, state, bob_token))
    )
    try:
        assert any(
            "now belongs to account alice, the first in exist.accounts" in r.getMessage()
            for r in caplog.records
        )
        pub.publish("meter/kitchen", {"cups": 53})  # alice: +3 over the kept baseline 50
        pub.publish("meter/kitchen", {"cups": 54})  # alice +1; bob: baseline 53, +1
        committed(household, 2)
        flush_all(household)
        # the 4 presses pending since the single-account bridge, and 3 + 1 from the meter
        assert mock_exist.state.value("coffees", today("UTC"), username=me(mock_exist)) == 8
        assert mock_exist.state.value("coffees", today("UTC"), username="bob") == 1
    finally:
        pub.close()
        household.stop()


def test_home_assistant_discovery_has_each_accounts_entities(mock_exist, mosquitto, tmp_path):
    """Per account: pending writes, requests left and a refused-token problem sensor, reading the
    status topic's ``accounts``; their templates give the status's values."""
    from jinja2 import Template

    bob_token = add_bob(mock_exist)
    text = household_config(mock_exist, mosquitto.port, tmp_path / "state", bob_token)
    config = parse_config(text)
    config = dataclasses.replace(config, mqtt=dataclasses.replace(config.mqtt, discovery=True))
    watcher = Watcher(mosquitto.port, ["homeassistant/#", "exist-bridge/#"])
    bridge = start_bridge(config)
    pub = Publisher(mosquitto.port)
    try:
        pub.publish("button/bob", "press")
        committed(bridge, 1)
        bridge.link.publish_status(bridge.status())
        node = bridge.link.node_id
        topics = {
            f"homeassistant/sensor/{node}/pending_bob/config",
            f"homeassistant/sensor/{node}/budget_alice/config",
            f"homeassistant/binary_sensor/{node}/token_bob/config",
        }
        wait_until(lambda: topics <= set(watcher.last))
        pending = json.loads(watcher.payload(f"homeassistant/sensor/{node}/pending_bob/config"))

        def status() -> dict:
            payload = watcher.payload(pending["state_topic"])
            return json.loads(payload) if payload else {}

        # the status published after the commit: bob's coffee waits (the delay is an hour)
        wait_until(lambda: status().get("accounts", {}).get("bob", {}).get("pending_rows") == 1)
        assert Template(pending["value_template"]).render(value_json=status()) == "1"
        token = json.loads(watcher.payload(f"homeassistant/binary_sensor/{node}/token_bob/config"))
        assert Template(token["value_template"]).render(value_json=status()) == "OFF"
        budget = json.loads(watcher.payload(f"homeassistant/sensor/{node}/budget_alice/config"))
        left = Template(budget["value_template"]).render(value_json=status())
        assert left == str(bridge.accounts["alice"].exist.budget_left())
    finally:
        pub.close()
        watcher.close()
        bridge.stop()


def test_a_meter_moved_from_alice_to_bob_by_a_reload_starts_from_a_baseline_for_bob(
    mock_exist, mosquitto, tmp_path, caplog
):
    """Alice's counted cups stay hers; bob's count starts at the first reading after the move
    (the reading alice's mapping kept is not his), and the log says why the state went."""
    from mqtt_bridge.reloading import reload_bridge

    meter = {"topic": "meter/kitchen", "attribute": "coffees", "mode": "counter", "json_path": "n"}
    bob_token = add_bob(mock_exist)

    def config(account: str) -> str:
        return household_config(
            mock_exist,
            mosquitto.port,
            tmp_path / "state",
            bob_token,
            mappings=[{**meter, "account": account}],
        )

    bridge = start_bridge(parse_config(config("alice")))
    pub = Publisher(mosquitto.port)
    try:
        for n in (50, 52):
            pub.publish("meter/kitchen", {"n": n})
        committed(bridge, 2)
        caplog.set_level(logging.INFO, logger="exist_bridge")
        outcome = reload_bridge(bridge, lambda: parse_config(config("bob")))
        assert outcome["result"] == "applied" and outcome["states_forgotten"] == 1
        assert outcome["mappings"]["added"] == outcome["mappings"]["removed"] == 1
        forgot = [
            r.getMessage() for r in caplog.records if "forgot the per-topic" in r.getMessage()
        ]
        assert len(forgot) == 1 and "meter/kitchen" in forgot[0] and "account" in forgot[0]
        for n in (55, 56):  # bob: 55 is his baseline, +1
            pub.publish("meter/kitchen", {"n": n})
        committed(bridge, 4)
        flush_all(bridge)
        assert mock_exist.state.value("coffees", today("UTC"), username=me(mock_exist)) == 2
        assert mock_exist.state.value("coffees", today("UTC"), username="bob") == 1
    finally:
        pub.close()
        bridge.stop()


def test_presses_counted_while_a_reload_made_the_household_one_account_reach_alice(
    mock_exist, mosquitto, tmp_path, caplog
):
    """A reload to a single-account file (alice's exist.token) counts under the single account
    (it isn't running: it waits for a restart); a reload back, and a restart: the first account
    adopts those totals though it has a total of the same day, and sends the sum."""
    from mqtt_bridge.diagnose.reload_command import reload_lines
    from mqtt_bridge.reloading import reload_bridge

    caplog.set_level(logging.INFO, logger="exist_bridge")
    button = {"topic": "button/alice", "attribute": "coffees"}
    state = tmp_path / "state"
    bob_token = add_bob(mock_exist)
    household = household_config(mock_exist, mosquitto.port, state, bob_token, mappings=[button])
    single = bridge_config(
        url=mock_exist.url,
        token=mock_exist.token,
        port=mosquitto.port,
        state_dir=state,
        client_id="household",
        attributes=ATTRIBUTES,
        mappings=[button],
    )
    bridge = start_bridge(parse_config(household))
    pub = Publisher(mosquitto.port)
    try:
        presses = 0
        for text in (single, household):
            for _ in range(2):
                pub.publish("button/alice", "press")
            presses += 2
            committed(bridge, presses)
            outcome = reload_bridge(bridge, lambda t=text: parse_config(t))
            assert outcome["result"] == "applied"
            if text == single:  # the single account waits for a restart, and is called so
                assert outcome["waiting_accounts"] == [""]
                assert (
                    "  account(s) the single account (exist.token) start with the next restart: "
                    "their mappings' totals wait in the outbox until then"
                ) in reload_lines(outcome)
                assert any(
                    "write to the single account (exist.token), which starts with the next "
                    "restart" in r.getMessage()
                    for r in caplog.records
                )
        pub.publish("button/alice", "press")
        committed(bridge, presses + 1)
        assert bridge.outbox.pending_by_account() == {"alice": 1, "": 1}
    finally:
        stop_without_flushing(bridge)
    bridge = start_bridge(parse_config(household))
    try:
        flush_all(bridge)
        assert mock_exist.state.value("coffees", today("UTC"), username=me(mock_exist)) == 5
        assert bridge.outbox.pending_by_account() == {}
    finally:
        pub.close()
        bridge.stop()
