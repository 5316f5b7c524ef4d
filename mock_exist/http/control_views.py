"""Blueprint for ``/_mock/``: the test-control API (not part of exist.io).

reset, state dump, users, clients, tokens, the clock, fault rules, the rate limit, seeded
attributes, the request journal and the ledger of applied changes.
"""

from __future__ import annotations

import hmac
import json
import re
from importlib import resources
from urllib.parse import urlsplit

from flask import Blueprint, Response, jsonify, request

from ..control.checks import ControlError
from ..control.faults import RULE_FIELDS
from ..rules.errors import BadRequest, ItemError, NotAuthenticated, NotFound, PermissionDenied
from ..rules.value_types import parse_date
from .parsing import json_body, state

bp = Blueprint("admin", __name__, url_prefix="/_mock")

# The fields each control call accepts in its JSON body (anything else is a 400); openapi.json
# documents exactly these (tests/mock/test_openapi_document.py compares them).
FIELDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("POST", "/_mock/users"): ("username", "timezone", "password", "first_name", "last_name"),
    ("POST", "/_mock/users/{username}/timezone"): ("timezone",),
    ("POST", "/_mock/clients"): (
        "client_id",
        "client_secret",
        "redirect_uris",
        "name",
        "label",
        "username",
    ),
    ("POST", "/_mock/tokens"): ("username", "client_id", "scopes", "expires_in", "access_token"),
    ("POST", "/_mock/clock"): ("now", "frozen", "advance", "resume"),
    ("POST", "/_mock/faults"): RULE_FIELDS,
    ("POST", "/_mock/rate-limit"): ("limit", "window", "mode", "retry_after"),
    ("POST", "/_mock/attributes"): (
        "name",
        "username",
        "template",
        "label",
        "group",
        "value_type",
        "manual",
        "owner",
        "values",
    ),
}


SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def _origin(url: str) -> str | None:
    """``host[:port]`` of an Origin or Referer URL, lowercased (None: ``null`` or no host)."""
    parts = urlsplit(url.strip())
    return parts.netloc.lower() or None


def cross_site() -> str | None:
    """Why this state-changing request comes from another site, or None. A web page can make a
    browser POST to the mock (a form, or ``fetch`` with ``no-cors``), but it cannot hide where
    it comes from: browsers send ``Origin`` (or at least ``Referer``, or ``Sec-Fetch-Site``)
    and a page cannot forge them. A request without any of them (curl, requests, pytest) is
    not a browser's and passes."""
    if request.method in SAFE_METHODS:
        return None
    own = request.host.lower()
    fetch_site = request.headers.get("Sec-Fetch-Site", "").lower()
    if fetch_site in ("cross-site", "same-site"):
        return f"Sec-Fetch-Site: {fetch_site}"
    origin = request.headers.get("Origin")
    if origin is not None:
        return None if _origin(origin) == own else f"Origin {origin}"
    referer = request.headers.get("Referer")
    if referer is not None:
        return None if _origin(referer) == own else f"Referer {referer}"
    return None


@bp.before_request
def guard():
    """Refuse a state-changing control call made from another site (``cross_site``) with 403.
    With ``MockConfig.admin_token`` set, every control call needs it: in the
    X-Mock-Admin-Token header, or in the dashboard's cookie (set by ``/_mock/?admin_token=``)."""
    foreign = cross_site()
    if foreign:
        raise PermissionDenied(
            f"Refused a cross-site call to the control API ({foreign}, not {request.host}): "
            "a web page may not change the mock. Call it from the dashboard, a script or curl."
        )
    expected = state().config.admin_token
    if expected is None:
        return None
    given = request.headers.get("X-Mock-Admin-Token") or request.cookies.get("mock_admin_token", "")
    if request.path == "/_mock/" and request.method == "GET" and not given:
        given = request.args.get("admin_token", "")
    if not hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8")):
        raise NotAuthenticated(
            "The control API needs the admin token in the X-Mock-Admin-Token header "
            "(mock-exist --admin-token)."
        )
    return None


def _body(*allowed: str) -> dict:
    """The JSON object body (empty if none), refusing keys outside ``allowed``."""
    if not request.get_data():
        return {}
    data = json_body()
    if not isinstance(data, dict):
        raise BadRequest("Expected a JSON object")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise BadRequest(f"unknown field(s): {', '.join(unknown)}")
    return data


def _call(fn, *args, **kwargs):
    """Run a control call of the model, turning its refusal (``ControlError`` and the like,
    whose message names the field) into a 400."""
    try:
        return fn(*args, **kwargs)
    except ControlError as err:
        raise BadRequest(str(err)) from None
    except (ValueError, KeyError, TypeError) as err:
        raise BadRequest(f"{type(err).__name__}: {err}") from None


def _args(body: dict, *names: str) -> dict:
    """The given fields of ``body`` as keyword arguments (absent ones keep the defaults)."""
    return {name: body[name] for name in names if name in body}


@bp.post("/reset")
def reset():
    state().reset()
    return jsonify({"reset": True, "token": state().token})


@bp.route("/state", methods=["GET", "PUT"])
def whole_state():
    """GET: the whole state as a state document; PUT: replace the state with one."""
    if request.method == "PUT":
        document = json_body()
        _call(state().load_state, document)
    return jsonify(state().dump())


@bp.post("/state/save")
def save_state():
    """Write the state to the ``--state`` file now (else 400)."""
    _body()
    return jsonify({"saved": _call(state().save_state)})


@bp.post("/users")
def add_user():
    body = _body(*FIELDS["POST", "/_mock/users"])
    if "username" not in body:
        raise BadRequest("username: is required")
    user = _call(
        state().add_user,
        **_args(body, "username", "timezone", "password", "first_name", "last_name"),
    )
    return jsonify({"username": user.username, "timezone": user.timezone}), 201


@bp.post("/users/<username>/timezone")
def set_timezone(username: str):
    body = _body(*FIELDS["POST", "/_mock/users/{username}/timezone"])
    _call(state().set_timezone, username, body.get("timezone"))
    return jsonify({"username": username, "timezone": body["timezone"]})


@bp.post("/clients")
def add_client():
    body = _body(*FIELDS["POST", "/_mock/clients"])
    for key in ("client_id", "client_secret"):
        if key not in body:
            raise BadRequest(f"{key}: is required")
    client = _call(
        state().add_client,
        **_args(body, "client_id", "client_secret", "redirect_uris", "name", "label", "username"),
    )
    return jsonify(client.to_json()), 201


@bp.post("/tokens")
def issue_token():
    body = _body(*FIELDS["POST", "/_mock/tokens"])
    if isinstance(body.get("scopes"), str):
        body["scopes"] = body["scopes"].replace(",", " ").split()
    token = _call(
        state().issue_token,
        **_args(body, "username", "client_id", "scopes", "expires_in", "access_token"),
    )
    return jsonify(token), 201


@bp.route("/clock", methods=["GET", "POST"])
def clock():
    """POST ``{"now": ISO-8601, "frozen": true}`` to set, ``{"advance": seconds}`` to move on,
    ``{"resume": true}`` to let a frozen clock tick. Everything is checked before anything moves:
    the clock stays within the years 1900-9000."""
    if request.method == "POST":
        body = _body(*FIELDS["POST", "/_mock/clock"])
        return jsonify(
            _call(state().set_clock, **_args(body, "now", "frozen", "advance", "resume"))
        )
    return jsonify(state().clock.to_json())


@bp.route("/faults", methods=["GET", "POST", "DELETE"])
def faults():
    """GET: every rule with its counts (fired ones too); POST: add one; DELETE: clear all."""
    s = state()
    if request.method == "POST":
        body = _body(*FIELDS["POST", "/_mock/faults"])
        if "path" not in body:
            raise BadRequest("path: is required")
        rule = _call(s.add_fault, **body)
        return jsonify(rule.to_json()), 201
    if request.method == "DELETE":
        s.clear_faults()
    with s.lock:
        return jsonify([r.to_json() for r in s.faults.rules])


@bp.delete("/faults/<int:rule_id>")
def remove_fault(rule_id: int):
    if not state().remove_fault(rule_id):
        raise NotFound(f"No fault rule {rule_id}")
    with state().lock:
        return jsonify([r.to_json() for r in state().faults.rules])


@bp.route("/rate-limit", methods=["GET", "POST"])
def rate_limit():
    """GET: the settings and each token's count; POST ``{"limit": N, "window": seconds,
    "mode": "sliding"|"fixed", "retry_after": bool}`` (``limit`` 0 throttles every request)."""
    if request.method == "POST":
        body = _body(*FIELDS["POST", "/_mock/rate-limit"])
        if "limit" not in body:
            raise BadRequest("limit: is required")
        return jsonify(_call(state().set_rate_limit, **body))
    return jsonify(state().rate_limit_state())


@bp.post("/attributes")
def seed_attribute():
    body = _body(*FIELDS["POST", "/_mock/attributes"])
    if "name" not in body and body.get("template") is None:
        raise BadRequest("name: is required")
    return jsonify(_call(state().seed_attribute, body.pop("name", None), **body)), 201


STATUS_FILTER = re.compile(r"[1-5](?:[0-9][0-9]|xx)")
ORDERS = ("", "oldest", "newest")


@bp.get("/journal")
def journal():
    """``?path=`` prefix, ``?status=`` (429 or 4xx), ``?limit=`` last N, ``?order=newest``;
    a bad parameter is a 400 naming it."""
    args = request.args
    limit = None
    if args.get("limit"):
        try:
            limit = int(args["limit"])
        except ValueError:
            raise BadRequest("limit: must be a whole number") from None
        if limit < 0:
            raise BadRequest("limit: must be at least 0")
    status = args.get("status", "")
    if status and not STATUS_FILTER.fullmatch(status.strip().lower()):
        raise BadRequest("status: must be a status such as 429 or a class such as 4xx")
    order = args.get("order", "")
    if order not in ORDERS:
        raise BadRequest("order: must be 'oldest' or 'newest'")
    return jsonify(state().journal(args.get("path", ""), status or None, limit, order == "newest"))


@bp.get("/ledger")
def ledger():
    """``?username=``, ``?attribute=``, ``?date=YYYY-mm-dd`` (checked: a 400 naming it)."""
    args = request.args
    day = args.get("date")
    if day is not None:
        try:
            parse_date(day)
        except ItemError as err:
            raise BadRequest(f"date: {err.message}") from None
    return jsonify(state().ledger(args.get("username"), args.get("attribute"), day))


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3 description of the emulated exist.io API."""
    text = resources.files("mock_exist.http").joinpath("openapi.json").read_text(encoding="utf-8")
    return Response(json.dumps(json.loads(text)), mimetype="application/json")
