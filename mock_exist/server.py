"""Run a mock exist.io on a real TCP port in a background thread (tests, the demo, benchmarks)."""

from __future__ import annotations

import errno
import threading

from werkzeug.serving import BaseWSGIServer, make_server

from .app import create_app
from .state import MockConfig, MockExist


class MockServer:
    """A started-on-demand HTTP server around one ``create_app`` instance.

    >>> with MockServer() as server:
    ...     requests.get(server.url + "/api/2/accounts/profile/",
    ...                  headers={"Authorization": f"Bearer {server.token}"})
    """

    def __init__(
        self, config: MockConfig | dict | None = None, host: str = "127.0.0.1", port: int = 0
    ):
        self.app = create_app(config)
        self.state: MockExist = self.app.extensions["mock_exist"]
        try:
            self._server: BaseWSGIServer = make_server(host, port, self.app, threaded=True)
        except SystemExit:  # werkzeug exits (after printing why) when it can't bind
            raise OSError(errno.EADDRINUSE, f"cannot listen on {host}:{port}") from None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_port

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (the API is under ``/api/2/``)."""
        return f"http://{self._server.server_address[0]}:{self.port}"

    @property
    def token(self) -> str:
        """The default user's personal token (every read and write scope)."""
        return self.state.token

    def start(self) -> MockServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},  # so stop() returns promptly
                name="mock-exist",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> MockServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
