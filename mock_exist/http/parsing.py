"""Request parsing shared by the blueprints: JSON bodies exactly as strict as DRF's parsers."""

from __future__ import annotations

import json

from flask import current_app, request

from ..control.python_api import MockExist
from ..rules.errors import BadRequest, MalformedJson, TooManyItems, UnsupportedMediaType

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
MAX_DEPTH = 100  # assumed: deeper JSON is refused as malformed (a write body is 2 levels deep)


def state() -> MockExist:
    return current_app.extensions["mock_exist"]


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _depth_ok(value: object) -> bool:
    """True if ``value`` nests at most ``MAX_DEPTH`` arrays/objects (checked without recursion)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (list, dict)):
            if depth > MAX_DEPTH:
                return False
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)
    return True


MAX_INT_DIGITS = 4300  # Python's default limit on int <-> str conversions
BEYOND_RANGE = 10**400  # stands in for a longer integer literal: outside every value type's range


def _parse_int(text: str) -> int:
    """A JSON integer; one too long for Python to convert is any value's range exceeded (so a
    write of it is a ``validation`` failure, as Exist refuses a bad value, not a parse error)."""
    if len(text) - text.startswith("-") > MAX_INT_DIGITS:
        return -BEYOND_RANGE if text.startswith("-") else BEYOND_RANGE
    return int(text)


def loads(raw: bytes) -> object:
    """Decode a JSON body strictly (no NaN/Infinity, at most ``MAX_DEPTH`` levels deep);
    ``ValueError`` for anything else, including JSON too deep for the parser itself."""
    try:
        data = json.loads(
            raw.decode("utf-8"), parse_constant=_reject_constant, parse_int=_parse_int
        )
    except RecursionError:
        raise ValueError(f"nested more than {MAX_DEPTH} levels deep") from None
    if not _depth_ok(data):
        raise ValueError(f"nested more than {MAX_DEPTH} levels deep")
    return data


def json_body() -> object:
    """The decoded JSON body; 415 for a non-JSON content type, 400 for malformed JSON."""
    mimetype = request.mimetype
    if mimetype in FORM_TYPES:
        return request.form.to_dict()
    if mimetype != "application/json":
        raise UnsupportedMediaType(
            f'Unsupported media type "{request.content_type or ""}" in request.'
        )
    raw = request.get_data(cache=True)
    try:
        return loads(raw)
    except ValueError as err:  # UnicodeDecodeError is one
        raise MalformedJson(f"JSON parse error - {err}") from None


def write_items() -> list[dict]:
    """A write body: a JSON array of at most ``max_items`` objects, else a whole-request 400."""
    data = json_body()
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise BadRequest("Expected a JSON array of objects")
    limit = state().config.max_items
    if len(data) > limit:
        raise TooManyItems(f"Too many objects: at most {limit} are allowed in one request")
    return data


def query() -> dict[str, str]:
    return request.args.to_dict()


def flag(name: str) -> bool:
    return request.args.get(name, "").strip().lower() in ("1", "true", "yes", "on")
