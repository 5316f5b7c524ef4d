"""Helpers for the mock's own tests: an authenticated session on the ``mock_exist`` fixture."""

from __future__ import annotations

import pytest
import requests


class Api:
    """A tiny client for one token: ``get(path, **params)`` and ``post(path, items)``."""

    def __init__(self, base: str, token: str, scheme: str = "Bearer"):
        self.base = base
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"{scheme} {token}"

    def get(self, path: str, **params: object) -> requests.Response:
        return self.session.get(f"{self.base}/api/2/{path}", params=params, timeout=10)

    def post(self, path: str, items: object, **params: object) -> requests.Response:
        return self.session.post(f"{self.base}/api/2/{path}", json=items, params=params, timeout=10)


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
    mock_exist.state.add_client("other_app", "other_secret", ["http://localhost:9/"],
                                label="Other app")
    return make_api(client_id="other_app")
