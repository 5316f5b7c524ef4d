"""Blueprint for ``/_mock/``: the test-control API (not part of exist.io).

reset, state dump, users, clients, tokens, the clock, fault rules, the rate limit, seeded
attributes, the request journal and the ledger of applied changes.
"""

from __future__ import annotations

import hmac
import json
from datetime import datetime, timezone
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Blueprint, Response, jsonify, request

from . import value_types as vt
from .catalog import GROUPS, TEMPLATES
from .errors import BadRequest, NotAuthenticated, ValidationFailed
from .faults import MODES
from .oauth import ALL_SCOPES
from .parsing import json_body, state

bp = Blueprint("admin", __name__, url_prefix="/_mock")


MISSING = object()
YEAR = 366 * 86400.0
MAX_SPAN = 100 * YEAR  # the longest clock step, token lifetime or rate window accepted
CLOCK_RANGE = (datetime(1900, 1, 1, tzinfo=timezone.utc), datetime(9000, 1, 1, tzinfo=timezone.utc))
MAX_COUNT = 10**9  # fault counts and rate limits
MAX_LATENCY = 3600.0  # seconds a fault may sleep


@bp.before_request
def guard():
    """With ``MockConfig.admin_token`` set, every control call needs it in X-Mock-Admin-Token."""
    expected = state().config.admin_token
    if expected is None:
        return None
    given = request.headers.get("X-Mock-Admin-Token", "")
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


def _fail(key: str, message: str) -> BadRequest:
    return BadRequest(f"{key}: {message}")


def _str(body: dict, key: str, default: object = None, *, required: bool = False,
         nullable: bool = True) -> str | None:
    value = body.get(key, MISSING)
    if value is MISSING or (value is None and nullable and not required):
        if required:
            raise _fail(key, "is required")
        return default  # type: ignore[return-value]
    if not isinstance(value, str) or not value:
        raise _fail(key, "must be a non-empty string")
    return value


def _bool(body: dict, key: str, default: bool) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise _fail(key, "must be true or false")
    return value


def _number(body: dict, key: str, low: float, high: float, default: object = MISSING, *,
            integer: bool = False, nullable: bool = False) -> float | None:
    value = body.get(key, MISSING)
    if value is MISSING:
        if default is MISSING:
            raise _fail(key, "is required")
        return default  # type: ignore[return-value]
    if value is None and nullable:
        return None
    kinds = int if integer else (int, float)
    if not isinstance(value, kinds) or isinstance(value, bool):
        raise _fail(key, "must be " + ("a whole number" if integer else "a number"))
    if not low <= value <= high:  # also refuses NaN
        raise _fail(key, f"must be between {low:g} and {high:g}")
    return value


def _timezone(body: dict, key: str, default: str | None = None) -> str:
    name = _str(body, key, default, required=default is None)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _fail(key, f"unknown IANA timezone '{name}'") from None
    return name  # type: ignore[return-value]


def _str_list(body: dict, key: str) -> list[str] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _fail(key, "must be a list of non-empty strings")
    return value


def _call(fn, **kwargs):  # noqa: ANN001
    """Run a control-API call, turning a refusal of the Python API into a 400."""
    try:
        return fn(**kwargs)
    except (ValueError, KeyError, TypeError) as err:
        raise BadRequest(f"{type(err).__name__}: {err}") from None


def _user(name: str | None, key: str = "username") -> str | None:
    if name is not None and name not in state().store.users:
        raise _fail(key, f"unknown user '{name}'")
    return name


@bp.post("/reset")
def reset():
    state().reset()
    return jsonify({"reset": True, "token": state().token})


@bp.get("/state")
def dump():
    return jsonify(state().dump())


@bp.post("/users")
def add_user():
    body = _body("username", "timezone", "password", "first_name", "last_name")
    args = {
        "username": _str(body, "username", required=True),
        "timezone": _timezone(body, "timezone", "UTC"),
        "password": _str(body, "password"),
        "first_name": _str(body, "first_name", "Mock"),
        "last_name": _str(body, "last_name", "User"),
    }
    with state().lock:
        if args["username"] in state().store.users:
            raise _fail("username", f"user '{args['username']}' already exists")
        user = _call(state().add_user, **args)
    return jsonify({"username": user.username, "timezone": user.timezone}), 201


@bp.post("/users/<username>/timezone")
def set_timezone(username: str):
    timezone_ = _timezone(_body("timezone"), "timezone")
    with state().lock:
        _user(username)
        _call(state().set_timezone, username=username, timezone=timezone_)
    return jsonify({"username": username, "timezone": timezone_})


@bp.post("/clients")
def add_client():
    body = _body("client_id", "client_secret", "redirect_uris", "name", "label", "username")
    args = {
        "client_id": _str(body, "client_id", required=True),
        "client_secret": _str(body, "client_secret", required=True),
        "redirect_uris": _str_list(body, "redirect_uris"),
        "name": _str(body, "name"),
        "label": _str(body, "label"),
        "username": _str(body, "username"),
    }
    with state().lock:
        _user(args["username"])
        client = _call(state().add_client, **args)
    return jsonify(client.to_json()), 201


@bp.post("/tokens")
def issue_token():
    body = _body("username", "client_id", "scopes", "expires_in", "access_token")
    scopes = body.get("scopes")
    if isinstance(scopes, str):
        scopes = scopes.replace(",", " ").split()
    scopes = _str_list({"scopes": scopes}, "scopes")
    unknown = [s for s in scopes or () if s not in ALL_SCOPES]
    if unknown:
        raise _fail("scopes", f"unknown scope(s): {', '.join(unknown)}")
    args = {
        "username": _str(body, "username"),
        "client_id": _str(body, "client_id"),
        "scopes": scopes,
        "expires_in": _number(body, "expires_in", -MAX_SPAN, MAX_SPAN, 31535999, nullable=True),
        "access_token": _str(body, "access_token"),
    }
    with state().lock:
        _user(args["username"])
        if args["client_id"] is not None and args["client_id"] not in state().oauth.clients:
            raise _fail("client_id", f"unknown client '{args['client_id']}'")
        return jsonify(_call(state().issue_token, **args)), 201


@bp.route("/clock", methods=["GET", "POST"])
def clock():
    """POST ``{"now": ISO-8601, "frozen": true}`` to set, ``{"advance": seconds}`` to move on,
    ``{"resume": true}`` to let a frozen clock tick. Everything is checked before anything moves:
    the clock stays within the years 1900-9000."""
    s = state()
    if request.method == "POST":
        body = _body("now", "frozen", "advance", "resume")
        when = None
        if "now" in body:
            raw = body["now"]
            try:
                when = datetime.fromisoformat(raw) if isinstance(raw, str) else None
            except ValueError:
                when = None
            if when is None or when.tzinfo is None:
                raise _fail("now", "must be an ISO-8601 date-time with a timezone offset")
            if not CLOCK_RANGE[0] <= when < CLOCK_RANGE[1]:
                raise _fail("now", "must be between the years 1900 and 9000")
        frozen = _bool(body, "frozen", True)
        advance = _number(body, "advance", -MAX_SPAN, MAX_SPAN, 0)
        resume = _bool(body, "resume", False)
        with s.lock:
            start = when.timestamp() if when is not None else s.clock.timestamp()
            if not CLOCK_RANGE[0].timestamp() <= start + advance < CLOCK_RANGE[1].timestamp():
                raise _fail("advance", "would move the clock out of the years 1900-9000")
            if when is not None:
                s.clock.set(when, frozen=frozen)
            if advance:
                s.clock.advance(advance)
            if resume:
                s.clock.resume()
    return jsonify(s.clock.to_json())


@bp.route("/faults", methods=["GET", "POST", "DELETE"])
def faults():
    s = state()
    if request.method == "POST":
        body = _body("path", "status", "count", "method", "mode", "latency")
        mode = _str(body, "mode", "status")
        if mode not in MODES:
            raise _fail("mode", f"must be one of {', '.join(MODES)}")
        args = {
            "path": _str(body, "path", required=True),
            "status": _number(body, "status", 100, 599, 500, integer=True),
            "count": _number(body, "count", 1, MAX_COUNT, 1, integer=True, nullable=True),
            "method": _str(body, "method"),
            "mode": mode,
            "latency": _number(body, "latency", 0, MAX_LATENCY, 0.0),
        }
        rule = _call(s.add_fault, **args)
        return jsonify(rule.to_json()), 201
    if request.method == "DELETE":
        with s.lock:
            s.faults.clear()
    with s.lock:
        return jsonify([r.to_json() for r in s.faults.rules])


@bp.post("/rate-limit")
def rate_limit():
    """``{"limit": N, "window": seconds}``; ``limit`` 0 throttles every request."""
    body = _body("limit", "window")
    limit = _number(body, "limit", 0, MAX_COUNT, integer=True)
    window = _number(body, "window", 0.001, MAX_SPAN, None, nullable=True)
    state().set_rate_limit(limit=limit, window=window)
    return jsonify({"limit": state().limiter.limit, "window": state().limiter.window})


@bp.post("/attributes")
def seed_attribute():
    body = _body("name", "username", "template", "label", "group", "value_type", "manual",
                 "owner", "values")
    template = _str(body, "template")
    if template is not None and template not in TEMPLATES:
        raise _fail("template", f"unknown template '{template}'")
    group = _str(body, "group", "custom")
    if group not in GROUPS:
        raise _fail("group", f"unknown group '{group}'")
    value_type = _number(body, "value_type", 0, 8, 7, integer=True)
    name = _str(body, "name", required=template is None) or template
    values = body.get("values") or {}
    if not isinstance(values, dict):
        raise _fail("values", "must be an object of YYYY-mm-dd: value")
    kind = TEMPLATES[template].value_type if template else value_type
    checked = {}
    for day, value in values.items():
        try:
            vt.parse_date(day)
            checked[day] = vt.check_value(kind, value, name)
        except ValidationFailed as err:
            raise _fail("values", f"{day}: {err.message}") from None
    args = {
        "name": name,
        "username": _str(body, "username"),
        "template": template,
        "label": _str(body, "label"),
        "group": group,
        "value_type": value_type,
        "manual": _bool(body, "manual", True),
        "owner": _str(body, "owner"),
        "values": checked,
    }
    with state().lock:
        _user(args["username"])
        return jsonify(_call(state().seed_attribute, **args)), 201


@bp.get("/journal")
def journal():
    return jsonify(state().journal(request.args.get("path", "")))


@bp.get("/ledger")
def ledger():
    args = request.args
    return jsonify(state().ledger(args.get("username"), args.get("attribute"), args.get("date")))


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3 description of the emulated exist.io API."""
    text = resources.files("mock_exist").joinpath("openapi.json").read_text(encoding="utf-8")
    return Response(json.dumps(json.loads(text)), mimetype="application/json")
