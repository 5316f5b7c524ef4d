"""Reloading a household's bridge (two Exist accounts): a mapping added for bob, one of alice's
changed, a broken file refused, an account added (it waits for a restart, its totals kept in the
outbox meanwhile), and SIGKILLs right after reloads: both accounts exact, nothing lost, nothing
counted twice. ``exist-bridge run`` as a subprocess, real mosquitto, the mock over HTTP."""

from __future__ import annotations

import signal
import threading

import pytest

from ..support.waiting import wait_until
from .household import add_bob
from .kills import KillRun, household_file, landed, write_household

pytestmark = pytest.mark.slow  # mosquitto, subprocesses or seconds of work: see pyproject

COFFEE = {"topic": "button/coffee", "attribute": "coffees"}
METER = {"topic": "meter/kitchen", "attribute": "fridge_opens", "mode": "counter", "json_path": "n"}
DOOR_BOB = {"topic": "zigbee2mqtt/door", "attribute": "door_opens", "account": "bob"}


def of(account: str, *mappings: dict) -> list[dict]:
    return [{**m, "account": account} for m in mappings]


class Household:
    def __init__(self, mock, broker, tmp_path, ack_delay: float = 0.3):
        self.mock, self.tmp_path, self.port = mock, tmp_path, broker.port
        self.bob = add_bob(mock)
        self.users = {"alice": mock.state.config.username, "bob": "bob"}
        self.path = household_file(mock, self.port, tmp_path, self.bob, [])
        self.run: KillRun | None = None
        self.ack_delay = ack_delay

    def write(self, mappings: list[dict], **params) -> None:
        write_household(
            self.path, self.mock, self.port, self.tmp_path, self.bob, mappings, **params
        )

    def start(self, mappings: list[dict]) -> KillRun:
        self.write(mappings)
        self.run = KillRun(self.path, self.tmp_path, self.port, ack_delay=self.ack_delay)
        self.run.wait_up()
        return self.run

    def got(self) -> dict[str, dict[str, int]]:
        return {name: landed(self.mock, user) for name, user in self.users.items()}

    def landed(self, expected: dict[str, dict[str, int]], pending: dict | None = None) -> None:
        """Until each account has ``expected`` and the outbox holds just ``pending`` rows."""
        assert self.run is not None
        try:
            wait_until(
                lambda: self.got() == expected and self.run.pending() == (pending or {}),
                timeout=30,
            )
        except AssertionError:
            raise AssertionError(
                f"expected {expected}, Exist has {self.got()}; pending {self.run.pending()}"
            ) from None

    def never_overshot(self, truth: dict[str, dict[str, int]]) -> None:
        for name, user in self.users.items():
            for entry in self.mock.state.ledger(username=user):
                if entry["op"] == "update":
                    assert entry["after"] <= truth[name][entry["attribute"]], (name, entry)


def test_reloads_add_for_bob_change_for_alice_refuse_a_bad_file_and_wait_for_a_new_account(
    mock_exist, mosquitto, tmp_path
):
    h = Household(mock_exist, mosquitto, tmp_path)
    carol = add_bob(mock_exist, "carol")
    first = [*of("alice", COFFEE, METER), *of("bob", COFFEE, METER)]
    run = h.start(first)
    try:
        for payload in ({"n": 100}, {"n": 104}):  # the meters' baseline, then +4 for each
            run.publish("meter/kitchen", payload)
        for _ in range(2):
            run.publish("button/coffee", "press")
        h.landed({n: {"coffees": 2, "fridge_opens": 4} for n in ("alice", "bob")})

        # 1. bob's door added (his account creates the attribute), alice's coffee changed (2
        # a press); the meters unchanged: each keeps its last reading
        second = [{**COFFEE, "amount": 2, "account": "alice"}, *first[1:], DOOR_BOB]
        h.write(second)
        record = run.reload()
        assert record["result"] == "applied", record
        assert record["mappings"] == {"added": 1, "removed": 0, "changed": 1, "unchanged": 3}
        assert (record["subscribed"], record["restart_needed"]) == (["zigbee2mqtt/door"], [])
        assert record["waiting_accounts"] == []
        assert mock_exist.state.attribute("door_opens", username="bob") is not None
        run.publish("button/coffee", "press")
        run.publish("meter/kitchen", {"n": 110})
        for _ in range(2):
            run.publish("zigbee2mqtt/door", "open")
        h.landed(
            {
                "alice": {"coffees": 4, "fridge_opens": 10},
                "bob": {"coffees": 3, "fridge_opens": 10, "door_opens": 2},
            }
        )

        # 2. a broken file: refused, the bridge goes on as it was
        h.write([*second[:3], {**second[3], "mode": "bogus"}, DOOR_BOB])
        refused = run.reload()
        assert refused["result"] == "refused"
        assert any("mappings[3].mode" in p for p in refused["problems"]), refused
        run.publish("button/coffee", "press")
        run.publish("zigbee2mqtt/door", "open")
        h.landed(
            {
                "alice": {"coffees": 6, "fridge_opens": 10},
                "bob": {"coffees": 4, "fridge_opens": 10, "door_opens": 3},
            }
        )

        # 3. carol added to exist.accounts, with a mapping: the account needs a restart; her
        # mapping counts at once, and her totals wait in the outbox under her account
        carol_account = {"name": "carol", "token": carol}
        h.write([*second, *of("carol", COFFEE)], more_accounts=[carol_account])
        added = run.reload()
        assert added["result"] == "applied", added
        assert added["restart_needed"] == ["exist.accounts (carol added)"]
        assert added["waiting_accounts"] == ["carol"]
        assert (
            "reload: mapping(s) 5 write to account carol, which starts with the next restart "
            "(exist.accounts changed): their events are counted and wait in the outbox under "
            "account carol until then" in run.text()
        )
        for _ in range(3):
            run.publish("button/coffee", "press")
        after = {
            "alice": {"coffees": 12, "fridge_opens": 10},
            "bob": {"coffees": 7, "fridge_opens": 10, "door_opens": 3},
        }
        h.landed(after, pending={"carol": 1})
        assert landed(mock_exist, "carol") == {}  # never sent with another account's token
        assert mock_exist.state.ledger(username="carol") == []

        run.restart()  # carol starts: what waited for her is sent
        h.landed(after)
        assert landed(mock_exist, "carol") == {"coffees": 3}
        run.stop()
    finally:
        run.close()
    h.never_overshot(after)


def test_sigkill_right_after_reloads_loses_nothing_in_either_account(
    mock_exist, mosquitto, tmp_path
):
    """A stream of presses and meter readings (both accounts count each) while the bridge
    reloads again and again (bob's door added and removed, alice's coffee's max_delay changed),
    is SIGKILLed right after a SIGHUP, and again right after a reload was applied: every press
    counts once per account, and each meter total is its last reading minus its first (a state
    lost to a reload or a kill would start a new baseline)."""
    h = Household(mock_exist, mosquitto, tmp_path, ack_delay=0.05)
    base = [*of("alice", COFFEE, METER), *of("bob", COFFEE, METER)]
    variants = [
        [{**base[0], "max_delay": 2}, *base[1:], DOOR_BOB],
        base,
    ]
    run = h.start(base)
    presses, readings = 0, []
    done = threading.Event()

    def stream() -> None:
        nonlocal presses
        while not done.is_set() or presses < 200:
            run.publish("button/coffee", "press")
            presses += 1
            if presses % 10 == 0:
                readings.append(1000 + 3 * len(readings))
                run.publish("meter/kitchen", {"n": readings[-1]})

    thread = threading.Thread(target=stream)
    try:
        thread.start()
        for turn in range(4):
            h.write(variants[turn % 2])
            record = run.reload()
            assert record["result"] == "applied", record
        # a kill right after a SIGHUP (the reload perhaps half applied), with messages in flight
        h.write(variants[0])
        run.bridge.send_signal(signal.SIGHUP)
        wait_until(lambda: presses % 7 == 0, timeout=10)
        run.kill_and_restart()
        run.wait_up()
        # a kill right after a reload was applied
        h.write(variants[1])
        run.reload()
        run.kill_and_restart()
        run.wait_up()
        done.set()
        thread.join(60)
        assert not thread.is_alive()
        meter = readings[-1] - readings[0]
        truth = {n: {"coffees": presses, "fridge_opens": meter} for n in ("alice", "bob")}
        h.landed(truth)
        run.stop()
    finally:
        done.set()
        run.close()
    h.never_overshot(truth)
