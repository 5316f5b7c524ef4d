"""An ingress-like reverse proxy, as Home Assistant's: the add-on's page is served under
``/api/hassio_ingress/<token>/``, forwarded with the prefix cut off and the ``X-Ingress-Path``
header set. Anything outside the prefix is a 404, so an absolute link in the page breaks. A POST
is forwarded with its body and the browser's headers, and ``X-Forwarded-Host`` set to the
``Host`` the browser asked (as the Supervisor does)."""

from __future__ import annotations

import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler

from .local_http import LocalHTTPServer


class IngressProxy(LocalHTTPServer):
    """The proxy in front of ``upstream``; ``seen`` records each request's path."""

    def __init__(self, upstream: str, token: str = "Xq3tVnIngressToken"):
        self.upstream = upstream.rstrip("/")
        self.prefix = f"/api/hassio_ingress/{token}"
        self.seen: list[str] = []
        super().__init__()

    def get(self, request: BaseHTTPRequestHandler) -> None:
        self.forward(request, None)

    def post(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        self.forward(request, request.rfile.read(length))

    def forward(self, request: BaseHTTPRequestHandler, body: bytes | None) -> None:
        self.seen.append(request.path)
        if not request.path.startswith(self.prefix + "/"):
            self.reply(request, 404, b"outside the ingress path\n", "text/plain")
            return
        headers = {"X-Ingress-Path": self.prefix}
        if body is not None:
            passed = ("Content-Type", "Origin", "Sec-Fetch-Site", "Referer")
            headers.update({k: request.headers[k] for k in passed if k in request.headers})
            headers["X-Forwarded-Host"] = request.headers.get("Host", "")
        forwarded = urllib.request.Request(
            self.upstream + request.path[len(self.prefix) :], data=body, headers=headers
        )
        try:
            with urllib.request.urlopen(forwarded, timeout=10) as answer:
                code, body = answer.status, answer.read()
                kind = answer.headers.get("Content-Type", "text/plain")
        except urllib.error.HTTPError as err:
            code, body = err.code, err.read()
            kind = err.headers.get("Content-Type", "text/plain")
        self.reply(request, code, body, kind)

    @property
    def url(self) -> str:
        """The page's address through the proxy (ends with a slash, as HA's panel does)."""
        return f"{self.base_url}{self.prefix}/"
