"""A real HTTP server in front of the mock that can lie: it forwards every request to the mock
and, while ``garble`` holds a rewrite, replaces the JSON answer of matching paths. Used to show
that a garbage answer from Exist never becomes stored state (issue 11, item 1)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

Rewrite = Callable[[str, Any], Any]  # (path, the mock's JSON answer) -> the answer to give


class LyingExist:
    """``url`` to give the bridge; ``garble[path_prefix] = rewrite`` to start lying."""

    def __init__(self, target: str):
        self.target = target.rstrip("/")
        self.garble: dict[str, Rewrite] = {}
        self.lies = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in ("host", "content-length", "connection")
                }
                answer = requests.request(
                    self.command,
                    owner.target + self.path,
                    data=body,
                    headers=headers,
                    timeout=30,
                    allow_redirects=False,
                )
                payload = answer.content
                path = self.path.split("?")[0]
                for prefix, rewrite in list(owner.garble.items()):
                    if path.startswith(prefix):
                        payload = json.dumps(rewrite(path, answer.json())).encode()
                        owner.lies += 1
                        break
                self.send_response(answer.status_code)
                for k, v in answer.headers.items():
                    if k.lower() not in (
                        "content-length",
                        "connection",
                        "transfer-encoding",
                        "content-encoding",
                    ):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
