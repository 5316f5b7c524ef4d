"""A small HTTP server on 127.0.0.1 (a free port) in a thread, for the tests' local fakes.

A subclass answers GET requests in :meth:`LocalHTTPServer.get` (POST in ``post``), with
:meth:`reply` to send.
Use it as a context manager: entering starts the thread, leaving shuts the server down.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TypeVar

_Server = TypeVar("_Server", bound="LocalHTTPServer")


class LocalHTTPServer:
    """One threaded HTTP server; request lines are not logged."""

    def __init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # http.server's name
                owner.get(self)

            def do_POST(self) -> None:
                owner.post(self)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``, no trailing slash."""
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def get(self, request: BaseHTTPRequestHandler) -> None:
        """Answer one GET request (``request.path``, ``request.headers``)."""
        raise NotImplementedError

    def post(self, request: BaseHTTPRequestHandler) -> None:
        """Answer one POST request: 405 unless a subclass answers it."""
        self.reply(request, 405, b"GET only\n", "text/plain")

    @staticmethod
    def reply(request: BaseHTTPRequestHandler, code: int, body: bytes, kind: str) -> None:
        """Send ``body`` with status ``code`` and Content-Type ``kind``."""
        request.send_response(code)
        request.send_header("Content-Type", kind)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    def __enter__(self: _Server) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
