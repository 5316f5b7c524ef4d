"""Helpers for the mock's own tests: an authenticated session on the ``mock_exist`` fixture."""

from __future__ import annotations

import pytest

from ..support.exist_api import Api

__all__ = ["Api"]  # importable from here too


@pytest.fixture
def api(mock_exist) -> Api:
    """The default user's personal token (every scope) on the default client."""
    return Api(mock_exist.url, mock_exist.token)


@pytest.fixture
def make_api(mock_exist):
    """Build an ``Api`` for a new token: ``make_api(scopes=[...], client_id=..., username=...)``."""

    def make(**kwargs: object) -> Api:
        token = mock_exist.state.issue_token(**kwargs)
        return Api(mock_exist.url, token["access_token"])

    return make


@pytest.fixture
def other_client(mock_exist, make_api) -> Api:
    """A second OAuth2 client of the default user, with every scope."""
    mock_exist.state.add_client(
        "other_app", "other_secret", ["http://localhost:9/"], label="Other app"
    )
    return make_api(client_id="other_app")
