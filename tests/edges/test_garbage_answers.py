"""Issue 11, item 1, end to end: a real bridge (real mosquitto, real HTTP) talks to an Exist
that answers garbage for one attribute's ``current``, then a whole update answer that is not
even the right shape. The other attributes' totals are still sent, nothing garbage is stored,
and after the server is honest again and the bridge restarts, every event lands exactly once."""

from __future__ import annotations

import json
import random
import sqlite3

from ..support.faults import FaultBridge, assert_never_double_counted, config_text, landed
from ..support.waiting import wait_until
from .garbage_server import LyingExist

INCREMENT = "/api/2/attributes/increment/"
UPDATE = "/api/2/attributes/update/"


def bad_current(values: list[object]):
    """Rewrite increment answers: ``coffees``' current becomes the next of ``values``."""
    it = iter(values * 100)

    def rewrite(path: str, data: dict) -> dict:
        for item in data.get("success") or []:
            if item.get("name") == "coffees":
                item["current"] = next(it)
        return data

    return rewrite


def stored_bases(state_dir) -> dict[str, object]:
    with sqlite3.connect(state_dir / "outbox.sqlite") as db:
        rows = db.execute("SELECT attribute, base, base_known FROM totals").fetchall()
    return {a: json.loads(b) for a, b, known in rows if known}


def test_garbage_answers_never_become_state_and_never_block_other_rows(
    mock_exist, mosquitto, tmp_path, caplog
):
    rng = random.Random(11_0001)
    liar = LyingExist(mock_exist.url)
    liar.garble[INCREMENT] = bad_current(["abc", 1e308, [], True, 2.5e9])
    state_dir = tmp_path / "state"
    text = config_text(mock_exist, mosquitto.port, state_dir, base_url=liar.url)
    fb = FaultBridge(mock_exist, mosquitto, state_dir, text=text)
    try:
        for _ in range(12):
            fb.event(rng.choice(["zigbee2mqtt/fridge", "zigbee2mqtt/door"]))
        for _ in range(5):
            fb.event("button/coffee")
        fb.settle()
        others = {k: v for k, v in fb.truth.items() if k != "coffees"}
        # the other attributes are delivered while coffees' answers are garbage
        wait_until(
            lambda: {k: v for k, v in landed(mock_exist.state).items() if k != "coffees"} == others,
            timeout=30,
        )
        wait_until(lambda: liar.lies >= 3, timeout=30)  # several garbage answers, retried
        assert "coffees" not in landed(mock_exist.state)
        assert "coffees" not in stored_bases(state_dir)  # nothing garbage was stored
        assert fb.bridge.outbox.status()["pending_rows"] == 1
        said = [
            r.getMessage() for r in caplog.records if "invalid_answer for coffees" in r.getMessage()
        ]
        assert len(said) == 1 and "not a number" in said[0], said  # logged once, with what
        assert "Traceback" not in caplog.text

        # a whole answer of the wrong shape: a failed request, nothing marked sent
        del liar.garble[INCREMENT]
        liar.garble[UPDATE] = lambda path, data: {"success": "x", "failed": 5}
        lies = liar.lies
        fb.event("zigbee2mqtt/door")
        fb.settle()
        wait_until(lambda: liar.lies >= lies + 2, timeout=30)
        # (the mock applied the update - it's the answer that lies - so the row must stay
        # pending: an update is idempotent and is simply sent again)
        assert "door_opens" in {p.attribute for p in fb.bridge.outbox.pending()}

        # honest again, and a restart is fine: everything lands exactly once
        liar.garble.clear()
        fb.restart()
        fb.wait_delivered(timeout=60)
        assert_never_double_counted(mock_exist.state, fb.truth)
        assert all(isinstance(b, int) for b in stored_bases(state_dir).values())
    finally:
        fb.close()
        liar.close()
