"""Fixtures shared by every test folder, and the ``slow`` marker applied where it belongs."""

from __future__ import annotations

import signal

import pytest

from .support.mosquitto import Mosquitto
from .support.processes import fixture_functions, guarded, starts_processes


def pytest_configure(config):
    """Ctrl-C (SIGINT) as in a terminal, however pytest was started: a shell starts a background
    job with SIGINT ignored, every process started from it inherits that, and the tests that stop
    mock-exist with Ctrl-C would wait in vain (in the pytest-xdist workers too)."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_addoption(parser, pluginmanager):
    """With pytest-xdist switched off (``-p no:xdist``, to debug), pyproject's ``-n``/``--dist``
    are accepted and ignored: the tests run in this process, one after the other."""
    if pluginmanager.is_blocked("xdist"):
        group = parser.getgroup("xdist", "pytest-xdist switched off (-p no:xdist)")
        group._addoption("-n", "--numprocesses", dest="numprocesses", help="ignored")
        group._addoption("--dist", dest="dist", default="no", help="ignored")


def pytest_collection_modifyitems(config, items):
    """A test that starts a process (a broker, a bridge, mock-exist, a browser, any subprocess)
    is ``slow`` even when its module forgot the mark, so ``-m "not slow"`` starts none; and one
    that is not may not start any (``support/processes.py``)."""
    for item in items:
        if item.get_closest_marker("slow"):
            continue
        function = getattr(item, "function", None)
        if (function is not None and starts_processes(function)) or any(
            starts_processes(f) for f in fixture_functions(item)
        ):
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    with guarded(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    with guarded(item):
        return (yield)


@pytest.fixture
def mosquitto(tmp_path):
    """A real mosquitto on a free loopback port, stopped after the test; the test fails if the
    broker dropped messages (a test counting what it published would blame the bridge)."""
    broker = Mosquitto(tmp_path / "mosquitto").start()
    try:
        yield broker
    finally:
        broker.kill()
    assert not broker.dropped(), f"mosquitto dropped messages: {broker.dropped()}"
