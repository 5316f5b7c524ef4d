"""The HTTP endpoint: a small WSGI application on waitress (already the project's server).

Routes (GET/HEAD only; everything is read-only):

- ``/healthz``: JSON ``{"status": "ok"|"unhealthy", "reason", ...}``, 200 when running and
  connected to the broker, 503 with the reason otherwise (for monitoring: is data flowing?);
- ``/livez``: JSON ``{"status": "alive"|"dead", "reason", ...}``, 200 while the process runs
  and its threads are alive, 503 only when it is stopping or a thread died (the add-on's
  ``watchdog`` and its image's ``HEALTHCHECK``: a restart can't bring a broker back);
- ``/metrics``: Prometheus text format;
- ``/`` : the status page; ``/status.json``: the same as JSON;
- ``/backfill/``: the backfill panel, when the bridge has one (``backfill.panel``: the only
  routes that take a POST, refused from another site).

Behind Home Assistant's ingress the page is served under a path prefix the Supervisor sends in the
``X-Ingress-Path`` header: the page sets ``<base href>`` to it and uses relative links only.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry
from waitress.server import create_server

from ..pipeline.buffer.outbox import Outbox
from ..pipeline.process import skips
from ..pipeline.process.event_time import summary as event_time_summary
from .metrics import BridgeCollector
from .state import BridgeView, Health, LiveState, Tally, health, liveness

log = logging.getLogger("exist_bridge.http")

THREADS = 2
SENT_ROWS = 60  # sent (attribute, date) rows on the status page; pending and refused: all
# what an X-Ingress-Path may look like (/api/hassio_ingress/<token>): an absolute path of
# non-empty segments (never //host, which a browser takes for another site, nor ..); anything
# else is ignored
INGRESS_PATH = re.compile(r"^(?:/[A-Za-z0-9_\-.~]+)*/?$")
INGRESS_SEGMENT_BAD = re.compile(r"(^|/)\.\.?(/|$)")

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict, StartResponse], Iterable[bytes]]

_templates = Environment(
    loader=PackageLoader("mqtt_bridge.observe", "templates"),
    autoescape=select_autoescape(["html"]),
)


def _ago(when: float | None, now: float) -> str:
    if not when:
        return "never"
    seconds = max(0, int(now - when))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


_templates.filters["ago"] = lambda when: _ago(when, time.time())


class ObserveApp:
    """The WSGI application around one ``BridgeView``. It reads the outbox through its own SQLite
    connection (opened on first use), one request at a time."""

    def __init__(self, view: BridgeView, panel: WsgiApp | None = None):
        self.view = view
        self.panel = panel
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(BridgeCollector(self._metrics_snapshot))
        self._lock = threading.Lock()
        self._outbox: Outbox | None = None

    # ----------------------------------------------------------------- reading the bridge

    def _read_outbox(self, state: LiveState, days: bool = False) -> tuple[dict | None, str | None]:
        """``(status, None)``, or ``(None, why)`` when the outbox can't be read. With ``days``
        the status carries ``days`` (every pending and refused (attribute, date) row, and the
        newest sent ones) and ``sent_more`` (how many sent rows ``days`` leaves out)."""
        with self._lock:
            try:
                if self._outbox is None:
                    self._outbox = Outbox(state.outbox_path)
                status = self._outbox.status()
                status["refused_rows"] = self._outbox.refused_count()
                if days:
                    status["days"], status["sent_more"] = self._days(status)
                return status, None
            except Exception as err:  # noqa: BLE001 - reported by /healthz, not raised
                if self._outbox is not None:
                    with contextlib.suppress(Exception):
                        self._outbox.close()
                    self._outbox = None
                return None, str(err)

    def _days(self, status: dict) -> tuple[list[dict], int]:
        """Every pending and refused (attribute, date) row, and the newest ``SENT_ROWS`` sent
        ones, newest day first; and how many sent rows are left out."""
        assert self._outbox is not None
        # a ``since`` after every date: only the rows not sent (pending or refused), all of them
        unsent = self._outbox.days(limit=-1, since="9999-12-31")
        newest = self._outbox.days(limit=SENT_ROWS + len(unsent))
        sent = [d for d in newest if d["state"] == "sent"][:SENT_ROWS]
        rows = sorted(unsent + sent, key=lambda d: (d["account"], d["attribute"]))
        rows.sort(key=lambda d: d["date"], reverse=True)  # stable: attributes A to Z in a day
        return rows, max(0, status.get("rows", 0) - len(unsent) - len(sent))

    def _metrics_snapshot(self) -> tuple[LiveState, dict | None, Tally]:
        state = self.view.live()
        status, _ = self._read_outbox(state)
        return state, status, self.view.tally

    def close(self) -> None:
        with self._lock:
            if self._outbox is not None:
                self._outbox.close()
                self._outbox = None

    # ----------------------------------------------------------------- WSGI

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "/") or "/"
        if self.panel is not None and (path == "/backfill" or path.startswith("/backfill/")):
            return self.panel(environ, start_response)
        if method not in ("GET", "HEAD"):
            return self._send(
                start_response,
                405,
                "text/plain",
                b"read-only: GET or HEAD\n",
                [("Allow", "GET, HEAD")],
                method,
            )
        try:
            if path == "/healthz":
                return self._healthz(start_response, method)
            if path == "/livez":
                return self._livez(start_response, method)
            if path == "/metrics":
                body = generate_latest(self.registry)
                return self._send(start_response, 200, CONTENT_TYPE_LATEST, body, [], method)
            if path in ("/", "/index.html"):
                return self._page(environ, start_response, method)
            if path == "/status.json":
                body = json.dumps(self._status(), indent=2, default=str).encode()
                return self._send(start_response, 200, "application/json", body, [], method)
        except Exception:  # one failed request must not end the server
            log.exception("the HTTP endpoint failed to answer %s", path)
            return self._send(start_response, 500, "text/plain", b"internal error\n", [], method)
        return self._send(start_response, 404, "text/plain", b"not found\n", [], method)

    @staticmethod
    def _send(
        start_response: StartResponse,
        code: int,
        content_type: str,
        body: bytes,
        headers: list[tuple[str, str]],
        method: str,
    ) -> list[bytes]:
        reasons = {
            200: "OK",
            404: "Not Found",
            405: "Method Not Allowed",
            500: "Internal Error",
            503: "Service Unavailable",
        }
        start_response(
            f"{code} {reasons[code]}",
            [
                ("Content-Type", content_type),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store"),
                *headers,
            ],
        )
        return [] if method == "HEAD" else [body]

    def _healthz(self, start_response: StartResponse, method: str) -> list[bytes]:
        state = self.view.live()
        _, problem = self._read_outbox(state)
        return self._send_verdict(start_response, method, health(state, problem), "ok", "unhealthy")

    def _livez(self, start_response: StartResponse, method: str) -> list[bytes]:
        verdict = liveness(self.view.live())
        return self._send_verdict(start_response, method, verdict, "alive", "dead")

    def _send_verdict(
        self, start_response: StartResponse, method: str, verdict: Health, good: str, bad: str
    ) -> list[bytes]:
        """A health verdict as JSON: 200 and ``good`` when ok, else 503 and ``bad``."""
        body = {"status": good if verdict.ok else bad, "reason": verdict.reason, **verdict.details}
        return self._send(
            start_response,
            200 if verdict.ok else 503,
            "application/json",
            json.dumps(body).encode(),
            [],
            method,
        )

    def _status(self) -> dict[str, Any]:
        """What the status page shows, as data (``/status.json``)."""
        state = self.view.live()
        status, problem = self._read_outbox(state, days=True)
        if status is not None:
            status["event_time"] = event_time_summary(status.get("counters", {}))
            status["skips"] = skips.by_mapping(status.get("counters", {}))
        verdict = health(state, problem)
        live = asdict(state)
        live["outbox_path"] = str(state.outbox_path)
        if not state.accounts:  # the single account: the fields as before there were accounts
            _unnamed(live, status)
        return {
            "healthy": verdict.ok,
            "health": verdict.reason,
            "bridge": live,
            "outbox": status,
            "messages": [
                {"mapping": i, "outcome": o, "count": n}
                for (i, o), n in sorted(self.view.tally.messages().items())
            ],
        }

    def _page(self, environ: dict, start_response: StartResponse, method: str) -> list[bytes]:
        ingress = environ.get("HTTP_X_INGRESS_PATH", "")
        plausible = INGRESS_PATH.match(ingress) and not INGRESS_SEGMENT_BAD.search(ingress)
        base = ingress.rstrip("/") + "/" if ingress and plausible else None
        data = self._status()
        counts = self.view.tally.messages()
        html = _templates.get_template("status.html").render(
            base=base,
            data=data,
            state=self.view.live(),
            counts=counts,
            now=time.time(),
            panel=self.panel is not None,
        )
        return self._send(
            start_response, 200, "text/html; charset=utf-8", html.encode(), [], method
        )


def _unnamed(live: dict[str, Any], status: dict[str, Any] | None) -> None:
    """Drop what only several accounts need (``account`` of each mapping and row, the pending
    rows per account) from a single-account bridge's ``/status.json``."""
    rows = [*live["mappings"], *(status.get("days", []) + status["refused"] if status else [])]
    for row in rows:
        row.pop("account", None)
    if status is not None:
        status.pop("pending_by_account", None)


class HttpEndpoint:
    """``ObserveApp`` served by waitress in a background thread, on ``host:port`` (0: a free
    port). ``stop()`` closes every connection."""

    def __init__(
        self,
        view: BridgeView,
        host: str = "127.0.0.1",
        port: int = 8099,
        panel: WsgiApp | None = None,
    ):
        self.app = ObserveApp(view, panel)
        try:
            # Any: waitress's stubs lack effective_host/effective_port and call trigger an int
            self._server: Any = create_server(
                self.app,
                map={},  # a private socket map: tests run several in one process
                host=host,
                port=port,
                threads=THREADS,
                channel_timeout=30,
                connection_limit=50,
                ident="exist-bridge",
                expose_tracebacks=False,
            )
        except OSError as err:
            raise OSError(
                f"http: cannot listen on {host}:{port} ({err.strerror or err}); set http.host "
                "and http.port to a free address"
            ) from None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.effective_port)

    @property
    def url(self) -> str:
        host = str(self._server.effective_host)
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    def start(self) -> HttpEndpoint:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.run, name="exist-bridge-http", daemon=True
            )
            self._thread.start()
            log.info("HTTP endpoint on %s (/healthz, /livez, /metrics, status page at /)", self.url)
        return self

    def stop(self) -> None:
        server = self._server
        with contextlib.suppress(OSError):  # the loop has ended already
            server.trigger.pull_trigger(lambda: _close_all(server))
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        else:
            _close_all(server)
        server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
        self.app.close()


def _close_all(server: Any) -> None:
    for dispatcher in list(server._map.values()):
        with contextlib.suppress(OSError):
            dispatcher.close()
