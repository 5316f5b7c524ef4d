"""The backfill panel: ``exist-bridge backfill --statistics`` from a page of the running bridge
(the Home Assistant add-on's ingress panel, under ``/backfill/``).

The page lists the statistics Home Assistant has (``recorder/list_statistic_ids``); the user
picks the Exist account (when ``exist.accounts`` names several: the first is preselected), an
attribute of that account and a kind per statistic and a date range; the panel shows the plan (the
same ``plan_backfill`` and the same words as ``--dry-run``) and runs it in a thread of the bridge
with ``send_plan``, the CLI's sender: the live bridge's outbox is asked before each request and
the persisted request budget is shared. Progress is polled (``progress.json``); Stop ends the
run after the request under way (or at once while it waits for the budget), and Run again
resumes: ``backfill.json`` has what Exist confirmed, so the plan holds only the rest.

Routes (relative to the page, so they work behind ingress): ``GET /backfill/`` the page,
``GET statistics.json``, ``GET progress.json``, ``POST plan``, ``POST run``, ``POST stop``. A
POST must be JSON (a form on another site can't send that without the browser asking first) and
is refused (403) when the browser says it comes from another site (``cross_site``). In the add-on
the panel answers only the Supervisor's ingress proxy (``peers``): the port the status page
shares may be opened to the network for ``/metrics``, the panel never is.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape

from ..config.model import BridgeConfig
from ..exist.errors import ExistError
from ..pipeline.output.exist_output import make_client
from . import send as sd
from . import statistics as st
from .command import send_plan, show_plan, show_report
from .ha_websocket import HomeAssistantWebSocket
from .plan import BackfillOptions, backfill_client, plan_backfill
from .sources import SourceError

log = logging.getLogger("exist_bridge.backfill")

PREFIX = "/backfill"
StartResponse = Callable[..., Any]

_templates = Environment(
    loader=PackageLoader("mqtt_bridge.backfill", "templates"),
    autoescape=select_autoescape(["html"]),
)


class Stopped(KeyboardInterrupt):
    """The panel's Stop: the sender ends as on Ctrl-C (what Exist confirmed is kept)."""


@dataclass
class HomeAssistantAccess:
    """Where the panel reaches Home Assistant: its REST API's base (``/api/...`` is appended),
    its websocket API, and the token (in the add-on: the Supervisor's proxies and
    ``SUPERVISOR_TOKEN``)."""

    url: str
    websocket: str
    token: str = field(repr=False)


@dataclass
class Run:
    """What a run is doing, as ``progress.json`` shows it."""

    state: str = "idle"  # idle, planning, running, stopping, stopped, done, failed
    done: int = 0  # requests sent
    total: int = 0  # requests planned
    note: str = ""  # waiting for the budget...
    lines: list[str] = field(default_factory=list)  # the plan, then the report
    error: str = ""


class _PanelBar(sd.Bar):
    """The sender's progress bar, kept for ``progress.json``; a Stop raises ``Stopped``."""

    def __init__(self, panel: BackfillPanel, total: int):
        super().__init__(total, io.StringIO())
        self.panel = panel

    def show(self, done: int, note: str = "") -> None:
        with self.panel.lock:
            self.panel.run.done, self.panel.run.note = done, note
        if self.panel.stop.is_set():
            raise Stopped()


class BackfillPanel:
    """The panel as a WSGI application for the paths under ``PREFIX``."""

    def __init__(
        self,
        config: BridgeConfig,
        home_assistant: HomeAssistantAccess,
        peers: frozenset[str] | None = None,
    ):
        self.config = config
        self.ha = home_assistant
        self.peers = peers  # the addresses it answers (the add-on: ingress's only); None: all
        self.state_dir = Path(config.bridge.state_dir)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.run = Run()
        self.thread: threading.Thread | None = None

    # ------------------------------------------------------------------------------ WSGI

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "")[len(PREFIX) :]
        if self.peers is not None and environ.get("REMOTE_ADDR") not in self.peers:
            return _send(start_response, 403, {"error": "the panel answers ingress only"}, method)
        if not path:  # the page's relative links need its trailing slash
            start_response("301 Moved Permanently", [("Location", "backfill/")])
            return []
        try:
            if method in ("GET", "HEAD"):
                return self._get(path, environ, start_response, method)
            if method != "POST":
                return _send(start_response, 405, {"error": "GET or POST"}, method)
            refused = cross_site(environ)
            if refused:
                return _send(start_response, 403, {"error": refused}, method)
            body = _json_body(environ)
            if path == "/plan":
                return _send(start_response, 200, self.plan(_options(body)), method)
            if path == "/run":
                return _send(start_response, 200, self.start(_options(body)), method)
            if path == "/stop":
                self.stop.set()
                return _send(start_response, 200, self.progress(), method)
        except (ValueError, OSError, SourceError) as err:
            return _send(start_response, 400, {"error": str(err)}, method)
        except Exception:  # one failed request must not end the bridge's server
            log.exception("the backfill panel failed to answer %s %s", method, path)
            return _send(start_response, 500, {"error": "internal error"}, method)
        return _send(start_response, 404, {"error": "not found"}, method)

    def _get(
        self, path: str, environ: dict, start_response: StartResponse, method: str
    ) -> Iterable[bytes]:
        if path == "/":
            accounts = [a.name for a in self.config.accounts]
            html = _templates.get_template("panel.html").render(
                accounts=[name for name in accounts if name],  # none: the single account
                attributes={
                    name: sorted(a.name for a in self.config.attributes_of(name))
                    for name in accounts
                },
                kinds=st.KINDS,
                yesterday=(self.today() - timedelta(days=1)).isoformat(),
            )
            return _send(start_response, 200, html, method)
        if path == "/statistics.json":
            return _send(start_response, 200, self.statistics(), method)
        if path == "/progress.json":
            return _send(start_response, 200, self.progress(), method)
        return _send(start_response, 404, {"error": "not found"}, method)

    def today(self) -> date:
        """Today in the default (first) account's time zone, as the plan counts days (its
        ``timezone``, else the profile's): the machine's clock may be in UTC, hours away from
        the user's day."""
        try:
            zone = (
                self.config.accounts[0].timezone
                or make_client(self.config, self.state_dir).manager.timezone()
            )
            return datetime.now(ZoneInfo(zone)).date()
        except (ExistError, OSError, ValueError, KeyError):  # not known yet: the machine's date
            return date.today()

    # ------------------------------------------------------------------------------ actions

    def statistics(self) -> dict[str, Any]:
        """The statistics Home Assistant has, each with its default kind."""
        with HomeAssistantWebSocket(self.ha.websocket, self.ha.token) as ws:
            found = ws.list_statistic_ids()
        rows = [
            {
                "statistic_id": s["statistic_id"],
                "name": s.get("name") or s["statistic_id"],
                "unit": s.get("statistics_unit_of_measurement") or "",
                "kind": st.default_kind(s) or "state",
            }
            for s in sorted(found, key=lambda s: s["statistic_id"])
        ]
        return {"statistics": rows}

    def _with_home_assistant(self, options: BackfillOptions) -> BackfillOptions:
        options.home_assistant = self.ha.url
        options.ha_websocket = self.ha.websocket
        options.ha_token = self.ha.token
        options.statistics = True
        return options

    def plan(self, options: BackfillOptions) -> dict[str, Any]:
        """The plan's words, as ``--dry-run`` prints them, and its request count."""
        exist = backfill_client(self.config, options, self.state_dir)
        errors = io.StringIO()
        backfill = plan_backfill(
            self.config, self._with_home_assistant(options), exist, time.time(), errors
        )
        lines: list[str] = []
        show_plan(backfill, lines.append)
        return {"lines": lines, "requests": backfill.plan.requests}

    def start(self, options: BackfillOptions) -> dict[str, Any]:
        """Start a run in a thread (one at a time)."""
        with self.lock:
            if self.thread is not None and self.thread.is_alive():
                raise ValueError("a backfill is running: stop it first")
            self.stop.clear()
            self.run = Run(state="planning")
            self.thread = threading.Thread(
                target=self._run,
                args=(self._with_home_assistant(options),),
                name="backfill",
                daemon=True,
            )
            self.thread.start()
        return self.progress()

    def progress(self) -> dict[str, Any]:
        with self.lock:
            run = self.run
            busy = run.state in ("planning", "running")
            state = "stopping" if busy and self.stop.is_set() else run.state
            return {
                "state": state,
                "done": run.done,
                "total": run.total,
                "note": run.note,
                "lines": list(run.lines),
                "error": run.error,
            }

    def _run(self, options: BackfillOptions) -> None:
        """Plan and send, as ``exist-bridge backfill`` does (its planner and sender)."""
        errors = io.StringIO()
        try:
            exist = backfill_client(self.config, options, self.state_dir)
            backfill = plan_backfill(self.config, options, exist, time.time(), errors)
            lines: list[str] = []
            show_plan(backfill, lines.append)
            with self.lock:
                self.run.lines, self.run.total = lines, backfill.plan.requests
                self.run.state = "running"
            if self.stop.is_set():  # Stop while planning: nothing is sent, not even set-up
                raise Stopped()
            log.info("backfill from the panel: %d request(s) to send", backfill.plan.requests)
            bar = _PanelBar(self, backfill.plan.requests)
            report = send_plan(backfill, exist, self.state_dir, False, self._sleep, errors, bar=bar)
            with self.lock:
                if report is None:
                    self.run.state, self.run.error = "failed", errors.getvalue().strip()
                else:
                    show_report(report, self.run.lines.append)
                    self.run.state = "done"
        except Stopped:
            with self.lock:
                self.run.state = "stopped"
                self.run.lines.append(
                    f"stopped after {self.run.done} of {self.run.total} request(s); what Exist "
                    "confirmed is kept: Resume sends the rest"
                )
            log.info("backfill from the panel stopped: run it again to send the rest")
        except (ValueError, OSError, SourceError) as err:
            with self.lock:
                self.run.state, self.run.error = "failed", str(err)
        except Exception as err:
            log.exception("the backfill from the panel failed")
            with self.lock:
                self.run.state, self.run.error = "failed", f"{type(err).__name__}: {err}"

    def _sleep(self, seconds: float) -> None:
        """The sender's wait for the budget, cut short by Stop."""
        if self.stop.wait(seconds):
            raise Stopped()

    def close(self) -> None:
        """Stop a run under way and wait for it (the bridge is stopping)."""
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=30)


# ------------------------------------------------------------------------------ helpers


def cross_site(environ: dict) -> str | None:
    """Why this POST comes from another site, or None. A browser says where a request comes
    from and a page can't forge it: ``Sec-Fetch-Site`` (every current browser; ``same-origin``
    behind ingress too, where the page and its requests both go to Home Assistant's address),
    else ``Origin``, which must be this server's ``Host`` (or the ``X-Forwarded-Host`` a proxy
    names). A request with neither is not a browser's (a script) and passes."""
    fetch_site = environ.get("HTTP_SEC_FETCH_SITE", "").lower()
    if fetch_site in ("same-origin", "none"):
        return None
    if fetch_site:
        return f"refused a cross-site request (Sec-Fetch-Site: {fetch_site})"
    origin = environ.get("HTTP_ORIGIN")
    if origin is not None:
        own = {environ.get("HTTP_HOST", "").lower(), environ.get("HTTP_X_FORWARDED_HOST", "")}
        if urlsplit(origin.strip()).netloc.lower() not in own - {""}:
            return f"refused a cross-site request (Origin {origin})"
    return None


def _json_body(environ: dict) -> dict[str, Any]:
    if not environ.get("CONTENT_TYPE", "").startswith("application/json"):
        raise ValueError("a JSON body is expected (Content-Type: application/json)")
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = json.loads(environ["wsgi.input"].read(min(length, 1_000_000)) or b"{}")
    except ValueError:
        raise ValueError("the body is not JSON") from None
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return body


def _options(body: dict[str, Any]) -> BackfillOptions:
    """A run's options from the page: ``start``, ``end``, ``entities``
    (``ENTITY=ATTRIBUTE:KIND`` texts) and ``account`` (a name in ``exist.accounts``; none or
    empty: the first)."""
    try:
        start = date.fromisoformat(str(body.get("start")))
        end = date.fromisoformat(str(body["end"])) if body.get("end") else None
    except ValueError:
        raise ValueError("from and to must be dates (YYYY-MM-DD)") from None
    entities = body.get("entities")
    if not isinstance(entities, list) or not entities:
        raise ValueError("pick at least one statistic and its attribute")
    for text in entities:
        choice = st.parse_choice(str(text))
        if choice.attribute is None:
            raise ValueError(f"{choice.entity}: pick an attribute")
    account = body.get("account") or None
    return BackfillOptions(
        start=start,
        end=end,
        entities=[str(e) for e in entities],
        account=None if account is None else str(account),
    )


def _send(
    start_response: StartResponse, code: int, body: dict[str, Any] | str, method: str
) -> list[bytes]:
    reasons = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found"}
    reasons.update({405: "Method Not Allowed", 500: "Internal Error"})
    html = isinstance(body, str)
    data = (body if html else json.dumps(body)).encode()  # type: ignore[union-attr]
    start_response(
        f"{code} {reasons[code]}",
        [
            ("Content-Type", "text/html; charset=utf-8" if html else "application/json"),
            ("Content-Length", str(len(data))),
            ("Cache-Control", "no-store"),
        ],
    )
    return [] if method == "HEAD" else [data]
