"""Blueprint for ``/_mock/``: the test-control API (not part of exist.io).

reset, state dump, users, clients, tokens, the clock, fault rules, the rate limit, seeded
attributes, the request journal and the ledger of applied changes.
"""

from __future__ import annotations

import json
from datetime import datetime
from importlib import resources

from flask import Blueprint, Response, jsonify, request

from .errors import BadRequest
from .parsing import json_body, state

bp = Blueprint("admin", __name__, url_prefix="/_mock")


def _body() -> dict:
    if not request.get_data():
        return {}
    data = json_body()
    if not isinstance(data, dict):
        raise BadRequest("Expected a JSON object")
    return data


def _call(fn, **kwargs):  # noqa: ANN001
    """Run a control-API call, turning bad arguments into a 400 instead of a 500."""
    try:
        return fn(**kwargs)
    except (ValueError, KeyError, TypeError) as err:
        raise BadRequest(f"{type(err).__name__}: {err}") from None


@bp.post("/reset")
def reset():
    state().reset()
    return jsonify({"reset": True, "token": state().token})


@bp.get("/state")
def dump():
    return jsonify(state().dump())


@bp.post("/users")
def add_user():
    user = _call(state().add_user, **_body())
    return jsonify({"username": user.username, "timezone": user.timezone}), 201


@bp.post("/users/<username>/timezone")
def set_timezone(username: str):
    _call(state().set_timezone, username=username, timezone=_body().get("timezone"))
    return jsonify({"username": username, "timezone": _body().get("timezone")})


@bp.post("/clients")
def add_client():
    client = _call(state().add_client, **_body())
    return jsonify(client.to_json()), 201


@bp.post("/tokens")
def issue_token():
    body = _body()
    if isinstance(body.get("scopes"), str):
        body["scopes"] = body["scopes"].replace(",", " ").split()
    return jsonify(_call(state().issue_token, **body)), 201


@bp.route("/clock", methods=["GET", "POST"])
def clock():
    """POST ``{"now": ISO-8601, "frozen": true}`` to set, ``{"advance": seconds}`` to move on,
    ``{"resume": true}`` to let a frozen clock tick."""
    s = state()
    if request.method == "POST":
        body = _body()
        if "now" in body:
            when = _call(lambda: datetime.fromisoformat(str(body["now"])))
            _call(s.clock.set, when=when, frozen=bool(body.get("frozen", True)))
        if "advance" in body:
            seconds = body["advance"]
            if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
                raise BadRequest("advance must be a number of seconds")
            s.clock.advance(seconds)
        if body.get("resume"):
            s.clock.resume()
    return jsonify(s.clock.to_json())


@bp.route("/faults", methods=["GET", "POST", "DELETE"])
def faults():
    s = state()
    if request.method == "POST":
        rule = _call(s.add_fault, **_body())
        return jsonify(rule.to_json()), 201
    if request.method == "DELETE":
        with s.lock:
            s.faults.clear()
    with s.lock:
        return jsonify([r.to_json() for r in s.faults.rules])


@bp.post("/rate-limit")
def rate_limit():
    body = _body()
    _call(state().set_rate_limit, limit=body.get("limit"), window=body.get("window"))
    return jsonify({"limit": state().limiter.limit, "window": state().limiter.window})


@bp.post("/attributes")
def seed_attribute():
    return jsonify(_call(state().seed_attribute, **_body())), 201


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
