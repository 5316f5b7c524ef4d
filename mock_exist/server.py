"""Run a mock exist.io on a real TCP port in a background thread (tests, the demo, benchmarks).

The server is waitress, a production-grade pure-Python WSGI server: HTTP/1.1 with keep-alive, a
fixed pool of worker threads (an idle or slow connection costs a socket, not a thread), an idle
timeout, a connection limit and a cap on request bodies. The same server runs ``mock-exist``.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import threading
from typing import Any

from waitress.server import create_server

from .control.python_api import MockConfig, MockExist
from .http.app import create_app

THREADS = 8  # worker threads; requests beyond that wait in waitress's queue
CHANNEL_TIMEOUT = 60  # seconds an idle (kept-alive or stalled) connection is kept open
CONNECTION_LIMIT = 200  # open connections before new ones wait in the listen backlog

LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach (``127.0.0.0/8``, ``::1``, localhost);
    parsed, so a name such as ``127.example.com`` is not."""
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


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
        # The app answers bodies over max_body_bytes with a JSON 413; waitress only cuts off
        # bodies far beyond that (its own 413), so it never buffers an unbounded upload.
        body_cap = 2 * self.state.config.max_body_bytes + 64 * 1024
        try:
            # Any: waitress's stubs lack effective_host/effective_port and call trigger an int
            self._server: Any = create_server(
                self.app,
                map={},  # a private socket map: several servers may run in one process
                host=host,
                port=port,
                threads=THREADS,
                channel_timeout=CHANNEL_TIMEOUT,
                connection_limit=CONNECTION_LIMIT,
                max_request_body_size=body_cap,
                ident="mock-exist",
                expose_tracebacks=False,
            )
        except OSError as err:
            raise OSError(
                err.errno or errno.EADDRINUSE,
                f"cannot listen on {host}:{port} ({err.strerror or err})",
            ) from None
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    @property
    def port(self) -> int:
        return self._server.effective_port

    @property
    def host(self) -> str:
        return str(self._server.effective_host)

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (the API is under ``/api/2/``)."""
        host = self.host
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    @property
    def token(self) -> str:
        """The default user's personal token (every read and write scope)."""
        return self.state.token

    def start(self) -> MockServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self.serve_forever, name="mock-exist", daemon=True
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until ``stop()`` (from another thread) or Ctrl-C."""
        try:
            self._server.run()
        finally:
            self._stopped.set()

    def stop(self) -> None:
        """Stop serving and close every connection, kept-alive ones included."""
        server = self._server
        # Close the sockets from the server's own loop (thread-safe), which then ends: its map
        # is empty. The trigger runs the callback in that thread.
        with contextlib.suppress(OSError):  # a closed trigger: the loop has ended already
            server.trigger.pull_trigger(lambda: _close_all(server))
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        else:
            _close_all(server)
        server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)

    def __enter__(self) -> MockServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _close_all(server) -> None:
    for dispatcher in list(server._map.values()):
        with contextlib.suppress(OSError):
            dispatcher.close()
