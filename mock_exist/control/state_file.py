"""The saved state of a mock: a versioned JSON document (``mock-exist --state FILE``, and
``GET``/``PUT /_mock/state``). Plain Python, no Flask.

Format ``{"format": "mock-exist-state", "version": 1, ...}`` (docs/mock-exist/state-files.md):
the clock,
the limits, users with their attributes (owner, values by day), OAuth2 clients (secrets included),
tokens (with their refresh tokens and expiry instants) and fault rules (with their counts). Not
kept: the request journal, the ledger, pending authorisation codes and the rate-limit counts.

``parse_state`` checks a whole document and builds new objects from it without touching any mock,
so a bad document changes nothing; ``MockExist.load_state`` then swaps them in.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypedDict

from ..rules import value_types as vt
from ..rules.catalog import GROUPS, TEMPLATES
from ..rules.errors import ItemError
from ..rules.oauth import ALL_SCOPES, Client, Token
from ..rules.ratelimit import MODES as RATE_MODES
from ..rules.store import Attribute, User
from . import checks
from .checks import ControlError
from .faults import RULE_FIELDS, FaultRule

FORMAT = "mock-exist-state"
VERSION = 1
TOKEN_KINDS = ("Bearer", "Token")


class ClockSettings(TypedDict, total=False):
    frozen: bool
    offset: float  # seconds ahead of the real clock (a running clock)
    now: datetime  # where a frozen clock stands


class LimitSettings(TypedDict, total=False):
    rate_limit: int
    rate_window: float
    rate_mode: str
    retry_after: bool
    max_items: int


@dataclass
class ParsedState:
    """A checked state document, as the objects a mock is made of."""

    clock: ClockSettings
    config: LimitSettings
    users: dict[str, User]
    clients: dict[str, Client]
    tokens: list[Token]
    faults: list[FaultRule]


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).isoformat()


def export_state(mock) -> dict:  # mock: a MockExist (not imported: no import cycle)
    """The whole state of ``mock`` as a version-1 document (JSON-able)."""
    clock = mock.clock
    limiter = mock.limiter
    return {
        "format": FORMAT,
        "version": VERSION,
        "clock": {
            "now": clock.now().isoformat(),
            "frozen": clock.frozen,
            "offset": None if clock.frozen else clock.offset,
        },
        "config": {
            "rate_limit": limiter.limit,
            "rate_window": limiter.window,
            "rate_mode": limiter.mode,
            "retry_after": limiter.retry_after,
            "max_items": mock.config.max_items,
        },
        "users": {
            u.username: {
                "password": u.password,
                "timezone": u.timezone,
                "first_name": u.first_name,
                "last_name": u.last_name,
                "attributes": {
                    a.name: {
                        "label": a.label,
                        "group": a.group,
                        "value_type": a.value_type,
                        "manual": a.manual,
                        "template": a.template,
                        "priority": a.priority,
                        "active": a.active,
                        "owner": a.service,
                        "values": dict(sorted(a.values.items())),
                    }
                    for a in u.attributes.values()
                },
            }
            for u in mock.store.users.values()
        },
        "clients": [
            {**c.to_json(), "client_secret": c.client_secret} for c in mock.oauth.clients.values()
        ],
        "tokens": [
            {
                "access_token": t.access_token,
                "token_type": t.kind,
                "username": t.username,
                "client_id": t.client_id,
                "scopes": sorted(t.scopes),
                "expires_at": _iso(t.expires_at),
                "refresh_token": t.refresh_token,
            }
            for t in mock.oauth.tokens.values()
        ],
        "faults": [r.to_json() for r in mock.faults.rules],
    }


def _obj(where: str, value: object, allowed: tuple[str, ...], required: tuple[str, ...] = ()):
    if not isinstance(value, dict):
        raise ControlError(where, "must be an object")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise ControlError(where, f"unknown field(s): {', '.join(map(str, unknown))}")
    missing = [k for k in required if k not in value]
    if missing:
        raise ControlError(where, f"missing field(s): {', '.join(missing)}")
    return value


def _attribute(where: str, name: object, raw: object) -> Attribute:
    name = checks.text(where, name, nullable=False)
    data = _obj(
        where,
        raw,
        (
            "label",
            "group",
            "value_type",
            "manual",
            "template",
            "priority",
            "active",
            "owner",
            "values",
        ),
        ("group", "value_type"),
    )
    group = checks.choice(f"{where}.group", data["group"], tuple(GROUPS))
    value_type = checks.whole(f"{where}.value_type", data["value_type"], 0, 8)
    template = checks.text(f"{where}.template", data.get("template"))
    if template is not None and template not in TEMPLATES:
        raise ControlError(f"{where}.template", f"unknown template '{template}'")
    attr = Attribute(
        name=name,
        label=checks.text(f"{where}.label", data.get("label", name), nullable=False),
        group=group,
        value_type=value_type,
        manual=checks.boolean(f"{where}.manual", data.get("manual", True)),
        template=template,
        priority=checks.whole(f"{where}.priority", data.get("priority", 9), 0, 1000),
        active=checks.boolean(f"{where}.active", data.get("active", True)),
        service=checks.text(f"{where}.owner", data.get("owner")),
    )
    values = data.get("values") or {}
    if not isinstance(values, dict):
        raise ControlError(f"{where}.values", "must be an object of YYYY-mm-dd: value")
    for day, value in values.items():
        try:
            vt.parse_date(day)
            attr.values[day] = None if value is None else vt.check_value(value_type, value, name)
        except ItemError as err:
            raise ControlError(f"{where}.values.{day}", err.message) from None
    return attr


def _user(name: object, raw: object) -> User:
    where = f"users.{name}"
    checks.text(where, name, nullable=False)
    data = _obj(where, raw, ("password", "timezone", "first_name", "last_name", "attributes"))
    user = User(
        username=name,  # type: ignore[arg-type]
        password=checks.text(f"{where}.password", data.get("password", name), nullable=False),
        timezone=checks.tz_name(f"{where}.timezone", data.get("timezone", "UTC")),
        first_name=checks.text(
            f"{where}.first_name", data.get("first_name", "Mock"), nullable=False
        ),
        last_name=checks.text(f"{where}.last_name", data.get("last_name", "User"), nullable=False),
    )
    attributes = data.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise ControlError(f"{where}.attributes", "must be an object of name: attribute")
    for attr_name, attr in attributes.items():
        user.attributes[attr_name] = _attribute(f"{where}.attributes.{attr_name}", attr_name, attr)
    return user


def _client(i: int, raw: object, users: dict[str, User]) -> Client:
    where = f"clients.{i}"
    data = _obj(
        where,
        raw,
        ("client_id", "client_secret", "name", "label", "redirect_uris", "username"),
        ("client_id", "client_secret", "username"),
    )
    client_id = checks.text(f"{where}.client_id", data["client_id"], nullable=False)
    username = checks.text(f"{where}.username", data["username"], nullable=False)
    if username not in users:
        raise ControlError(f"{where}.username", f"unknown user '{username}'")
    label = checks.text(f"{where}.label", data.get("label")) or client_id
    return Client(
        client_id=client_id,
        client_secret=checks.text(f"{where}.client_secret", data["client_secret"], nullable=False),
        name=checks.text(f"{where}.name", data.get("name")) or client_id,
        label=label,
        redirect_uris=checks.text_list(f"{where}.redirect_uris", data.get("redirect_uris")) or [],
        username=username,
    )


def _token(i: int, raw: object, users: dict, clients: dict) -> Token:
    where = f"tokens.{i}"
    data = _obj(
        where,
        raw,
        (
            "access_token",
            "token_type",
            "username",
            "client_id",
            "scopes",
            "expires_at",
            "refresh_token",
        ),
        ("access_token", "username"),
    )
    kind = checks.choice(f"{where}.token_type", data.get("token_type", "Bearer"), TOKEN_KINDS)
    username = checks.text(f"{where}.username", data["username"], nullable=False)
    if username not in users:
        raise ControlError(f"{where}.username", f"unknown user '{username}'")
    client_id = checks.text(f"{where}.client_id", data.get("client_id"))
    if kind == "Bearer" and client_id not in clients:
        raise ControlError(f"{where}.client_id", f"unknown client '{client_id}'")
    scopes = checks.text_list(f"{where}.scopes", data.get("scopes"))
    scopes = list(ALL_SCOPES) if scopes is None else scopes
    unknown = [s for s in scopes if s not in ALL_SCOPES]
    if unknown:
        raise ControlError(f"{where}.scopes", f"unknown scope(s): {', '.join(unknown)}")
    expires = data.get("expires_at")
    return Token(
        access_token=checks.text(f"{where}.access_token", data["access_token"], nullable=False),
        username=username,
        client_id=client_id if kind == "Bearer" else None,
        scopes=frozenset(scopes),
        expires_at=None
        if expires is None
        else checks.instant(f"{where}.expires_at", expires).timestamp(),
        refresh_token=checks.text(f"{where}.refresh_token", data.get("refresh_token")),
        kind=kind,
    )


def _fault(i: int, raw: object) -> FaultRule:
    where = f"faults.{i}"
    data = _obj(where, raw, (*RULE_FIELDS, "id", "fired", "matched", "active"), ("path",))
    fields = {k: data[k] for k in (*RULE_FIELDS, "fired", "matched") if k in data}
    try:
        rule = FaultRule(**fields)
    except ControlError as err:
        raise ControlError(f"{where}.{err.field}", str(err).split(": ", 1)[1]) from None
    rule.id = checks.whole(f"{where}.id", data.get("id", 0), 0, 2**63)
    return rule


def parse_state(document: object) -> ParsedState:
    """Check a state document and build its objects; ``ControlError`` names the first bad field."""
    data = _obj(
        "state",
        document,
        ("format", "version", "clock", "config", "users", "clients", "tokens", "faults"),
        ("format", "version", "users"),
    )
    if data["format"] != FORMAT:
        raise ControlError("format", f"must be '{FORMAT}'")
    if data["version"] != VERSION:
        raise ControlError(
            "version",
            f"unsupported version {data['version']!r} (this mock reads version {VERSION})",
        )
    parsed_clock = _clock(data.get("clock") or {})
    parsed_config = _limits(data.get("config") or {})
    raw_users = data["users"]
    if not isinstance(raw_users, dict):
        raise ControlError("users", "must be an object of username: user")
    users = {name: _user(name, raw) for name, raw in raw_users.items()}
    clients: dict[str, Client] = {}
    for i, raw in enumerate(_list("clients", data)):
        client = _client(i, raw, users)
        clients[client.client_id] = client
    tokens = [_token(i, raw, users, clients) for i, raw in enumerate(_list("tokens", data))]
    faults = [_fault(i, raw) for i, raw in enumerate(_list("faults", data))]
    return ParsedState(parsed_clock, parsed_config, users, clients, tokens, faults)


def _list(field: str, data: dict[str, Any]) -> list[Any]:
    """The list under ``field`` (absent or null: empty)."""
    raw = data.get(field) or []
    if not isinstance(raw, list):
        raise ControlError(field, "must be a list")
    return raw


def _clock(document: object) -> ClockSettings:
    """The saved clock: frozen at ``now``, or running with an ``offset`` (seconds)."""
    clock = _obj("clock", document, ("now", "frozen", "offset"))
    parsed: ClockSettings = {"frozen": checks.boolean("clock.frozen", clock.get("frozen", False))}
    if clock.get("offset") is not None and not parsed["frozen"]:
        parsed["offset"] = checks.number(
            "clock.offset", clock["offset"], -checks.MAX_SPAN, checks.MAX_SPAN
        )
    elif "now" in clock:
        parsed["now"] = checks.instant("clock.now", clock["now"])
    return parsed


def _limits(document: object) -> LimitSettings:
    """The saved limits (rate limit and window, 429 style, items per request), as given."""
    config = _obj(
        "config", document, ("rate_limit", "rate_window", "rate_mode", "retry_after", "max_items")
    )
    parsed: LimitSettings = {}
    if "rate_limit" in config:
        parsed["rate_limit"] = checks.whole(
            "config.rate_limit", config["rate_limit"], 0, checks.MAX_COUNT
        )
    if "rate_window" in config:
        parsed["rate_window"] = checks.number(
            "config.rate_window", config["rate_window"], 0.001, checks.MAX_SPAN
        )
    if "rate_mode" in config:
        parsed["rate_mode"] = checks.choice("config.rate_mode", config["rate_mode"], RATE_MODES)
    if "retry_after" in config:
        parsed["retry_after"] = checks.boolean("config.retry_after", config["retry_after"])
    if "max_items" in config:
        parsed["max_items"] = checks.whole(
            "config.max_items", config["max_items"], 1, checks.MAX_COUNT
        )
    return parsed


def read_state_file(path: str | os.PathLike) -> ParsedState:
    """Read and check a state file; ``ControlError`` (a ``ValueError``) or ``OSError``."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        document = json.loads(text)
    except RecursionError:
        raise ControlError("state", "not JSON (nested too deeply)") from None
    except ValueError as err:
        raise ControlError("state", f"not JSON ({err})") from None
    return parse_state(document)


def write_state_file(path: str | os.PathLike, document: dict) -> None:
    """Write atomically: a temporary file beside ``path``, flushed, then renamed over it."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=1, ensure_ascii=False)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def state_file_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot serve as a state file to save to, or None: checked at start by
    writing (and removing) a temporary file beside it, as ``write_state_file`` will on exit."""
    target = Path(path)
    if target.is_dir():
        return "it is a directory"
    parent = target.parent
    if not parent.exists():
        return f"directory {parent} does not exist"
    if not parent.is_dir():
        return f"{parent} is not a directory"
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=parent)
    except OSError as err:
        return f"cannot write in {parent} ({err.strerror or err})"
    os.close(fd)
    Path(tmp).unlink(missing_ok=True)
    return None
