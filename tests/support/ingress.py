"""An ingress-like reverse proxy, as Home Assistant's: the add-on's page is served under
``/api/hassio_ingress/<token>/``, forwarded with the prefix cut off and the ``X-Ingress-Path``
header set. Anything outside the prefix is a 404, so an absolute link in the page breaks."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class IngressProxy:
    def __init__(self, upstream: str, token: str = "Xq3tVnIngressToken"):
        self.upstream = upstream.rstrip("/")
        self.prefix = f"/api/hassio_ingress/{token}"
        self.seen: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                proxy.seen.append(self.path)
                if not self.path.startswith(proxy.prefix + "/"):
                    self._reply(404, b"outside the ingress path\n", "text/plain")
                    return
                request = urllib.request.Request(
                    proxy.upstream + self.path[len(proxy.prefix) :],
                    headers={"X-Ingress-Path": proxy.prefix},
                )
                try:
                    with urllib.request.urlopen(request, timeout=10) as answer:
                        code, body = answer.status, answer.read()
                        kind = answer.headers.get("Content-Type", "text/plain")
                except urllib.error.HTTPError as err:
                    code, body = err.code, err.read()
                    kind = err.headers.get("Content-Type", "text/plain")
                self._reply(code, body, kind)

            def _reply(self, code: int, body: bytes, kind: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        """The page's address through the proxy (ends with a slash, as HA's panel does)."""
        return f"http://127.0.0.1:{self.server.server_address[1]}{self.prefix}/"

    def __enter__(self) -> IngressProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
