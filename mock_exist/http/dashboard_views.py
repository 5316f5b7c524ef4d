"""The dashboard at ``/_mock/``: one server-rendered HTML page over the control API.

Everything it shows comes from the same calls as ``GET /_mock/state``, ``journal``, ``ledger``,
``rate-limit`` and ``faults``; its buttons (move the clock, add or clear faults) call the control
API with a few lines of vanilla JavaScript. Charts are inline SVG, drawn here: no build step, no
external files. With an admin token, open ``/_mock/?admin_token=SECRET`` once: the page keeps it
in a cookie the control API accepts (``control_views.guard``).
"""

from __future__ import annotations

import hmac
import json
from datetime import date, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from flask import Blueprint, make_response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from ..control.faults import MODES
from ..rules.catalog import VALUE_TYPE_DESCRIPTIONS
from .control_views import guard
from .parsing import state

bp = Blueprint("dashboard", __name__, url_prefix="/_mock", template_folder="html")
bp.before_request(guard)  # the control API's admin token, if one is set

CHART_DAYS = 30
CHART_WIDTH, CHART_HEIGHT = 240, 48
JOURNAL_ROWS = 100
LEDGER_ROWS = 100
COOKIE = "mock_admin_token"


@bp.app_template_filter("pretty")
def pretty(value: object) -> str:
    """JSON for people: indented, keys in their order, not ASCII-escaped (the page escapes)."""
    return json.dumps(value, indent=1, ensure_ascii=False)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    return 1.0  # a string value (mood note): present


def _label(number: float) -> str:
    """A chart's scale for people: ``4321`` for a whole number (not ``4321.0``), else 2 places."""
    return str(int(number)) if float(number).is_integer() else f"{number:.2f}".rstrip("0")


def chart(values: dict[str, object], last: date, days: int = CHART_DAYS) -> dict:
    """Bars for ``days`` days up to ``last``: each ``{date, value, x, y, width, height}``."""
    span = [last - timedelta(days=days - 1 - i) for i in range(days)]
    numbers = [_number(values.get(d.isoformat())) for d in span]
    top = max([abs(n) for n in numbers if n is not None] or [1.0]) or 1.0
    width = CHART_WIDTH / days
    bars = []
    for i, (day, number) in enumerate(zip(span, numbers, strict=True)):
        height = 0.0 if number is None else max(1.0, abs(number) / top * (CHART_HEIGHT - 2))
        bars.append(
            {
                "date": day.isoformat(),
                "value": values.get(day.isoformat()),
                "x": round(i * width + 0.5, 2),
                "width": round(max(1.0, width - 1), 2),
                "y": round(CHART_HEIGHT - height, 2),
                "height": round(height, 2),
            }
        )
    return {
        "bars": bars,
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "top": top,
        "top_label": _label(top),
        "first": span[0].isoformat(),
        "last": last.isoformat(),
    }


def _users(document: dict, now) -> list[dict]:
    clients = {c["client_id"]: c for c in document["clients"]}
    users = []
    for name, user in document["users"].items():
        today = now.astimezone(ZoneInfo(user["timezone"])).date()
        attributes = []
        for attr_name, attr in user["attributes"].items():
            stored = attr["values"]
            latest = max([date.fromisoformat(d) for d in stored] or [today])  # chart ends there
            owner = clients.get(attr["owner"] or "")
            attributes.append(
                {
                    "name": attr_name,
                    **attr,
                    "owner_label": owner["label"] if owner else None,
                    "type": VALUE_TYPE_DESCRIPTIONS.get(attr["value_type"], "?"),
                    "chart": chart(stored, latest),
                    "recent": sorted(stored.items(), reverse=True)[:CHART_DAYS],
                    "count": len(stored),
                }
            )
        users.append(
            {
                "username": name,
                "timezone": user["timezone"],
                "today": today,
                "attributes": sorted(attributes, key=lambda a: (a["group"], a["name"])),
            }
        )
    return users


@bp.get("/")
def dashboard():
    if "admin_token" in request.args:
        return _without_token()
    s = state()
    path = request.args.get("path", "")
    status = request.args.get("status", "")
    document = s.dump()
    context = {
        "clock": document["clock"],
        "users": _users(document, s.clock.now()),
        "rate": s.rate_limit_state(),
        "faults": document["faults"],
        "modes": MODES,
        "journal": s.journal(path, status, JOURNAL_ROWS, newest_first=True),
        "journal_total": len(s.journal_log.entries),
        "ledger": list(reversed(s.ledger()))[:LEDGER_ROWS],
        "filter_path": path,
        "filter_status": status,
        "max_items": document["config"]["max_items"],
        "clients": document["clients"],
    }
    response = make_response(render_template("dashboard.html", **context))
    response.headers["Cache-Control"] = "no-store"
    return response


def _without_token() -> BaseResponse:
    """``/_mock/?admin_token=SECRET``: keep the secret in a cookie, not in the URL (history,
    bookmarks, a shared screen): 303 to the same page without it."""
    given = request.args.get("admin_token", "")
    expected = state().config.admin_token
    rest = [(k, v) for k, v in request.args.items(multi=True) if k != "admin_token"]
    response = redirect(
        url_for("dashboard.dashboard") + ("?" + urlencode(rest) if rest else ""), code=303
    )
    if expected and hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8")):
        response.set_cookie(COOKIE, given, httponly=True, samesite="Strict", path="/_mock/")
    response.headers["Cache-Control"] = "no-store"
    return response
