"""A tiny authenticated client of the emulator's HTTP API, for the mock's own tests."""

from __future__ import annotations

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
