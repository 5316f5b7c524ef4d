"""pytest plugin (registered through the ``pytest11`` entry point): the ``mock_exist`` fixture.

    def test_my_integration(mock_exist):
        client = MyExistClient(base_url=mock_exist.url, token=mock_exist.token)
        client.increment("coffees", 1)
        assert mock_exist.state.value("coffees", "2024-01-01") == 1

The fixture runs a fresh mock on a free loopback port, over real HTTP, for each test. Configure it
with the ``mock_exist_config`` fixture (return a dict of ``MockConfig`` fields) and drive it through
``mock_exist.state`` (clock, faults, rate limit, users, clients, tokens, ledger, journal).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .server import MockServer


@pytest.fixture
def mock_exist_config() -> dict:
    """Override to configure the ``mock_exist`` fixture (keys are ``MockConfig`` fields)."""
    return {}


@pytest.fixture
def mock_exist(mock_exist_config: dict) -> Iterator[MockServer]:
    """A running mock exist.io: ``.url``, ``.token`` and ``.state`` (the Python control API)."""
    server = MockServer(dict(mock_exist_config)).start()
    try:
        yield server
    finally:
        server.stop()
