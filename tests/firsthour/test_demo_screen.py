"""The demo never prints Python's None, explains its columns once, and keeps the bridge's
warnings on the live screen (a redraw would wipe lines written to the terminal)."""

from __future__ import annotations

import io
import logging
from types import SimpleNamespace

from exist_demo.demo import LEGEND, RecentWarnings, Truth, _screen, run_demo


def test_a_short_demo_run(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    out = io.StringIO()
    code = run_demo(duration=3, delay=1, broker_choice="mosquitto", out=out, live=False)
    text = out.getvalue()
    assert code == 0, text
    assert "None" not in text
    assert text.count("how to read it:") == 1
    assert LEGEND in text


def fakes(values: dict, truth: dict):
    broker = SimpleNamespace(name="mosquitto", port=1883)
    mock = SimpleNamespace(
        url="http://127.0.0.1:5000",
        state=SimpleNamespace(journal=lambda prefix: [], value=lambda name, day: values.get(name)),
    )
    bridge = SimpleNamespace(
        outbox=SimpleNamespace(counters=lambda: {}),
        exist=SimpleNamespace(budget_left=lambda: None),
    )
    devices = SimpleNamespace(truth=Truth(values=truth))
    return broker, mock, bridge, devices


def test_the_screen_shows_nothing_yet_as_a_dash_and_keeps_warnings():
    recent = RecentWarnings(keep=2)
    logger = logging.getLogger("exist_bridge.test_demo_screen")
    logger.addHandler(recent)
    try:
        for n in range(3):
            logger.warning("warning number %d", n)
    finally:
        logger.removeHandler(recent)
    screen = _screen(1, 10, *fakes({"steps": 12}, {"steps": 12}), warnings=recent.lines)
    assert "None" not in screen
    assert "budget             - of 280" in screen
    assert "  mood                    -   (devices: -)" in screen.splitlines()
    lines = screen.splitlines()
    assert lines[-3] == "the bridge's last warnings:"
    assert lines[-2].endswith("warning: warning number 1")
    assert lines[-1].endswith("warning: warning number 2")
