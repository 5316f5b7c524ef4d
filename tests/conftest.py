"""Fixtures shared by every test folder."""

from __future__ import annotations

import pytest

from .support.mosquitto import Mosquitto


def pytest_collection_modifyitems(config, items):
    """A test that uses the ``mosquitto`` fixture starts a broker: it is ``slow`` even when its
    module forgot the mark (so ``-m "not slow"`` never starts one)."""
    for item in items:
        if "mosquitto" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def mosquitto(tmp_path):
    """A real mosquitto on a free loopback port, stopped after the test."""
    broker = Mosquitto(tmp_path / "mosquitto").start()
    try:
        yield broker
    finally:
        broker.kill()
