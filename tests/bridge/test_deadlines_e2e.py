"""Flushing by deadline end to end (issue 14): a real mosquitto, the mock over real HTTP, the
bridge in-process with its real flush loop. The bridge's clock is the mock's frozen clock, which
only the test moves; the test then wakes the loop (as a commit does) and waits for its result.
Nothing here is timed: "no request yet" is asserted once the loop has planned its next wake-up.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from mqtt_bridge.config import parse_config
from mqtt_bridge.service import Bridge

from ..support.mqtt import Publisher, wait_subscribed
from ..support.waiting import wait_until

pytestmark = pytest.mark.slow  # mosquitto, subprocesses or seconds of work: see pyproject

UTC = ZoneInfo("UTC")
START = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
DAY = "2024-05-01"
MIDNIGHT = datetime(2024, 5, 2, tzinfo=UTC).timestamp()

CONFIG = """
exist:
  base_url: {url}
  token: !env EXIST_TOKEN
  timezone: UTC
mqtt:
  host: 127.0.0.1
  port: {port}
  client_id: bridge-deadlines
bridge:
  state_dir: {state}
attributes:
  - template: coffees
  - template: steps
mappings:
  - topic: home/coffee
    attribute: coffees
  - topic: home/steps
    attribute: steps
    mode: update
"""


@pytest.fixture
def mock_exist_config():
    return {"clock_start": START, "clock_frozen": True}


class Rig:
    """The bridge (default delays: events 300 s, totals 3600 s) on the mock's clock."""

    def __init__(self, mock, broker, tmp_path):
        self.mock = mock
        self.clock = mock.state.clock
        text = CONFIG.format(url=mock.url, port=broker.port, state=tmp_path / "state")
        self.bridge = Bridge(parse_config(text, env={"EXIST_TOKEN": mock.token}),
                             clock=self.clock.timestamp)  # fmt: skip
        self.bridge.start()
        wait_subscribed(self.bridge.link, 15)  # connected, its SUBACK received
        self.pub = Publisher(broker.port)
        self.sent = 0
        wait_until(lambda: self.asleep_until() is not None)  # attribute set-up done
        self.setup_requests = len(self.mock.state.journal("/api/2/"))

    def now(self) -> float:
        return self.clock.timestamp()

    def publish(self, topic: str, payload: str, n: int = 1) -> None:
        for _ in range(n):
            self.pub.publish(topic, payload)
        self.sent += n
        wait_until(lambda: self.bridge.outbox.counters().get("messages", 0) >= self.sent)
        self.bridge.writer.wait_idle()  # its notify has run too

    def asleep_until(self) -> float | None:
        """The loop's planned wake-up while it sleeps with nothing left to re-plan."""
        f = self.bridge.flusher
        if f is None or f.planning or f.alarm.is_set():
            return None
        return f.planned

    def advance_to(self, t: float) -> None:
        """Move the clock to ``t`` and wake the loop; return once it sleeps again."""
        self.clock.advance(t - self.now())
        self.bridge.flusher.wake()  # sets the alarm: not asleep until the loop has re-planned
        wait_until(lambda: self.asleep_until() is not None)

    def writes(self) -> list[dict]:
        return [
            j
            for j in self.mock.state.journal("/api/2/attributes/")
            if j["path"].endswith("/update/")
        ]

    def requests(self) -> list[dict]:
        return self.mock.state.journal("/api/2/")[self.setup_requests :]

    def close(self) -> None:
        self.pub.close()
        self.bridge.stop()


@pytest.fixture
def rig(mock_exist, mosquitto, tmp_path):
    r = Rig(mock_exist, mosquitto, tmp_path)
    yield r
    r.close()


def test_a_burst_rides_one_request(rig, mock_exist):
    t0 = rig.now()
    rig.publish("home/coffee", "1", n=40)
    wait_until(lambda: rig.asleep_until() == t0 + 300)
    assert rig.requests() == []  # committed, planned, nothing sent yet
    rig.advance_to(t0 + 300)
    assert [len(j["body"]) for j in rig.writes()] == [1]  # one update carried all 40
    assert mock_exist.state.value("coffees", DAY) == 40


def test_a_lone_reading_waits_for_its_deadline_then_goes_with_everything_pending(rig, mock_exist):
    t0 = rig.now()
    rig.publish("home/steps", "1200")
    wait_until(lambda: rig.asleep_until() == t0 + 3600)
    rig.advance_to(t0 + 1800)  # half way: the loop wakes, finds nothing due, sleeps on
    assert rig.asleep_until() == t0 + 3600 and rig.requests() == []
    rig.clock.advance(1700)  # 3500 s after the reading
    rig.publish("home/coffee", "1")  # due at +3800: rides along at +3600
    rig.publish("home/steps", "1500")  # the newer total: still due at +3600
    rig.advance_to(t0 + 3600)
    [write] = rig.writes()
    assert sorted(i["name"] for i in write["body"]) == ["coffees", "steps"]
    assert mock_exist.state.value("steps", DAY) == 1500
    assert mock_exist.state.value("coffees", DAY) == 1
    assert rig.asleep_until() == MIDNIGHT  # nothing pending now


def test_midnight_sends_yesterdays_finals_without_waiting(rig, mock_exist):
    rig.clock.advance(MIDNIGHT - 120 - rig.now())  # 23:58
    rig.publish("home/steps", "8000")  # due at 00:58 by its delay, at 00:00 by its day
    wait_until(lambda: rig.asleep_until() == MIDNIGHT)
    assert rig.requests() == []
    rig.advance_to(MIDNIGHT)
    assert mock_exist.state.value("steps", DAY) == 8000
    assert len(rig.writes()) == 1


def test_a_stop_sends_what_is_pending(rig, mock_exist):
    t0 = rig.now()
    rig.publish("home/coffee", "1", n=3)
    rig.publish("home/steps", "640")
    wait_until(lambda: rig.asleep_until() == t0 + 300)
    assert rig.requests() == []
    rig.bridge.stop()
    assert mock_exist.state.value("coffees", DAY) == 3
    assert mock_exist.state.value("steps", DAY) == 640
    assert rig.bridge.outbox.pending() == []


def test_no_request_when_nothing_is_pending(rig, mock_exist):
    assert rig.asleep_until() == MIDNIGHT
    for hours in (1, 5, 12):
        rig.advance_to(START.timestamp() + hours * 3600)
    rig.advance_to(MIDNIGHT)  # a new day, nothing to re-send
    assert rig.requests() == []  # not one request after the set-up, as the journal shows
