"""A local fake of the Home Assistant Supervisor's API, over real HTTP, for the add-on's glue.

It answers what the Supervisor documents for ``GET /services/mqtt`` (``supervisor/services/
modules/mqtt.py``, see ``shared/vendor/ha-addon-linter/SOURCE.md``):
``{"result": "ok", "data": {"host", "port", "ssl", "protocol", "username", "password",
"addon"}}`` to a request bearing the add-on's token, ``{"result": "error", "message": ...}`` with
400 when no MQTT service is provided, and 401 to a wrong or missing token. It records each
request's path and Authorization header.
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler

from .local_http import LocalHTTPServer


class FakeSupervisor(LocalHTTPServer):
    """The Supervisor's ``/services/mqtt``; ``requests`` records (path, Authorization)."""

    def __init__(self, token: str, mqtt: dict | None = None):
        self.token = token
        self.mqtt = mqtt  # the service's data; None: no MQTT service
        self.requests: list[tuple[str, str | None]] = []
        super().__init__()

    def get(self, request: BaseHTTPRequestHandler) -> None:
        auth = request.headers.get("Authorization")
        self.requests.append((request.path, auth))
        if auth != f"Bearer {self.token}":
            self._answer(request, 401, {"result": "error", "message": "Unauthorized"})
        elif request.path != "/services/mqtt":
            self._answer(request, 404, {"result": "error", "message": "Not found"})
        elif self.mqtt is None:
            self._answer(request, 400, {"result": "error", "message": "Service not available"})
        else:
            self._answer(request, 200, {"result": "ok", "data": self.mqtt})

    def _answer(self, request: BaseHTTPRequestHandler, code: int, body: dict) -> None:
        self.reply(request, code, json.dumps(body).encode(), "application/json")

    @property
    def url(self) -> str:
        return self.base_url


def mqtt_service(host: str, port: int, username: str, password: str, ssl: bool = False) -> dict:
    """The ``data`` of the Supervisor's MQTT service answer, as the Mosquitto add-on provides."""
    return {
        "host": host,
        "port": port,
        "ssl": ssl,
        "protocol": "3.1.1",
        "username": username,
        "password": password,
        "addon": "core_mosquitto",
    }
