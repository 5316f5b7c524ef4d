"""pytest plugin (registered through the ``pytest11`` entry point): the ``mock_exist`` fixture.

    def test_my_integration(mock_exist):
        client = MyExistClient(base_url=mock_exist.url, token=mock_exist.token)
        client.increment("coffees", 1)
        assert mock_exist.state.value("coffees", "2024-01-01") == 1

The fixture runs a fresh mock on a free loopback port, over real HTTP, for each test. Configure it
with the ``mock_exist_config`` fixture (return a dict of ``MockConfig`` fields) and drive it through
``mock_exist.state`` (clock, faults, rate limit, users, clients, tokens, ledger, journal).

The server (Flask, waitress) is imported only when a test asks for the fixture, so the plugin never
breaks a test session where they are missing: such a test is skipped with the install command.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .server import MockServer

MISSING = "the mock_exist fixture needs Flask and waitress: pip install mock-exist"


@pytest.fixture
def mock_exist_config() -> dict:
    """Override to configure the ``mock_exist`` fixture (keys are ``MockConfig`` fields)."""
    return {}


@pytest.fixture
def mock_exist(mock_exist_config: dict) -> Iterator[MockServer]:
    """A running mock exist.io: ``.url``, ``.token`` and ``.state`` (the Python control API)."""
    try:
        from .server import MockServer
    except ImportError as err:  # Flask or waitress not installed
        pytest.skip(f"{MISSING} ({err})")
    server = MockServer(dict(mock_exist_config)).start()
    try:
        yield server
    finally:
        server.stop()
