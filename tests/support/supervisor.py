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
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeSupervisor:
    def __init__(self, token: str, mqtt: dict | None = None):
        self.token = token
        self.mqtt = mqtt  # the service's data; None: no MQTT service
        self.requests: list[tuple[str, str | None]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                auth = self.headers.get("Authorization")
                fake.requests.append((self.path, auth))
                if auth != f"Bearer {fake.token}":
                    self._answer(401, {"result": "error", "message": "Unauthorized"})
                elif self.path != "/services/mqtt":
                    self._answer(404, {"result": "error", "message": "Not found"})
                elif fake.mqtt is None:
                    self._answer(400, {"result": "error", "message": "Service not available"})
                else:
                    self._answer(200, {"result": "ok", "data": fake.mqtt})

            def _answer(self, code: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeSupervisor:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


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
