"""Users, their attributes and values, and the rules of every read and write endpoint.

Plain Python: callers pass an ``Actor`` (who is asking, through which client, with which scopes)
and decoded JSON; they get back plain data or an exception from ``errors``. Every rule here is in
the documentation's table (docs/mock-exist/rules.md) with its source (docs, observed by
third-party clients, or assumed).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from . import value_types as vt
from .catalog import GROUPS, TEMPLATES, VALUE_TYPE_DESCRIPTIONS
from .clock import Clock
from .errors import (
    BadRequest,
    ItemError,
    ItemNotFound,
    MissingField,
    NotAllowed,
    NotFound,
    Unauthorised,
    ValidationFailed,
)
from .ledger import Ledger
from .oauth import OAuthRegistry, can_read, can_write

CUSTOM_PRIORITY = 9  # the guide shows a new custom attribute with priority 9 (observed)
LOW_PRIORITY = 10  # "include_low_priority: attributes with a priority >= 10"


@dataclass
class Actor:
    """Who makes a request: the user, the client (service) acting for them, and its scopes."""

    username: str
    client_id: str | None
    scopes: frozenset[str]
    request_id: int | None = None


@dataclass
class Attribute:
    name: str
    label: str
    group: str
    value_type: int
    manual: bool
    template: str | None = None
    priority: int = CUSTOM_PRIORITY
    active: bool = True
    service: str | None = None  # client_id of the owner
    values: dict[str, object] = field(default_factory=dict)


@dataclass
class User:
    username: str
    password: str
    timezone: str = "UTC"
    first_name: str = "Mock"
    last_name: str = "User"
    attributes: dict[str, Attribute] = field(default_factory=dict)
    averages: dict[str, dict] = field(default_factory=dict)  # attribute -> its latest averages
    insights: list[dict] = field(default_factory=list)  # as insights/ lists them
    correlations: list[dict] = field(default_factory=list)  # as correlations/ lists them


@dataclass
class WriteResult:
    success: list[dict] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)

    @property
    def status(self) -> int:
        """200 when nothing failed, 202 whenever anything did (even everything)."""
        return 202 if self.failed else 200

    def to_json(self) -> dict:
        return {"success": self.success, "failed": self.failed}


def slugify(label: str) -> str:
    """The attribute name exist.io derives from a label: "Time reading" -> "time_reading"."""
    ascii_label = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", ascii_label.lower()).strip("_")


def _flag(params: dict[str, str], key: str) -> bool | None:
    raw = params.get(key)
    if raw is None or raw == "":
        return None
    return raw.strip().lower() in ("1", "true", "yes", "on")


def _csv(params: dict[str, str], key: str) -> set[str] | None:
    raw = params.get(key)
    if not raw:
        return None
    return {part.strip() for part in raw.split(",") if part.strip()}


class DaySeries(Sequence):
    """Every day from ``date_max`` back ``span`` days with its value (or None), built only for the
    page asked for: a far-future ``date_max`` is millions of days."""

    def __init__(self, values: dict[str, object], date_max: date, span: int):
        self.values, self.date_max, self.span = values, date_max, span

    def __len__(self) -> int:
        return self.span

    def _day(self, i: int) -> dict:
        d = (self.date_max - timedelta(days=i)).isoformat()
        return {"date": d, "value": self.values.get(d)}

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self._day(i) for i in range(*index.indices(self.span))]
        if not -self.span <= index < self.span:
            raise IndexError(index)
        return self._day(index % self.span)


class Store:
    def __init__(self, clock: Clock, oauth: OAuthRegistry, ledger: Ledger):
        self.clock = clock
        self.oauth = oauth
        self.ledger = ledger
        self.users: dict[str, User] = {}

    # ----------------------------------------------------------------- users and lookups

    def add_user(self, user: User) -> User:
        ZoneInfo(user.timezone)  # raises for an unknown zone
        self.users[user.username] = user
        return user

    def user(self, username: str) -> User:
        return self.users[username]

    def today(self, username: str) -> date:
        """The user's local date on the mock clock."""
        return self.clock.now().astimezone(ZoneInfo(self.users[username].timezone)).date()

    def profile(self, username: str) -> dict:
        user = self.users[username]
        local = self.clock.now().astimezone(ZoneInfo(user.timezone))
        return {
            "username": user.username,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "avatar": f"https://exist.io/media/avatars/{user.username}.png",
            "timezone": user.timezone,
            "local_time": local.isoformat(),
            "imperial_distance": False,
            "imperial_weight": False,
            "imperial_energy": False,
            "imperial_liquid": False,
            "imperial_temperature": False,
            "trial": False,
            "delinquent": False,
        }

    def attribute_json(self, attr: Attribute) -> dict:
        client = self.oauth.clients.get(attr.service or "")
        return {
            "template": attr.template,
            "name": attr.name,
            "label": attr.label,
            "group": GROUPS[attr.group].to_json(),
            "service": client.service_json() if client else None,
            "active": attr.active,
            "priority": attr.priority,
            "manual": attr.manual,
            "value_type": attr.value_type,
            "value_type_description": VALUE_TYPE_DESCRIPTIONS[attr.value_type],
            "available_services": [client.service_json()] if client else [],
        }

    # ----------------------------------------------------------------- reads

    def _readable(self, actor: Actor, params: dict[str, str]) -> list[Attribute]:
        """The attributes the actor may read, narrowed by the ``groups`` and ``attributes``
        filters every list endpoint shares, in exist.io's display order."""
        groups = _csv(params, "groups")
        names = _csv(params, "attributes")
        attrs = [
            a
            for a in self.users[actor.username].attributes.values()
            if can_read(actor.scopes, a.group, a.manual)
            and (groups is None or a.group in groups)
            and (names is None or a.name in names)
        ]
        return sorted(attrs, key=lambda a: (GROUPS[a.group].priority, a.group, a.priority, a.name))

    def list_attributes(self, actor: Actor, params: dict[str, str], owned: bool = False) -> list:
        """``attributes/`` and ``attributes/owned/`` with their documented filters."""
        manual = _flag(params, "manual")
        owned = owned or bool(_flag(params, "owned"))
        out = []
        for a in self._readable(actor, params):
            if _flag(params, "exclude_custom") and a.template is None:
                continue
            if manual is not None and a.manual != manual:
                continue
            if not a.active and not _flag(params, "include_inactive"):
                continue
            if a.priority >= LOW_PRIORITY and not _flag(params, "include_low_priority"):
                continue
            if owned and (a.service is None or a.service != actor.client_id):
                continue
            out.append(self.attribute_json(a))
        return out

    def _day_param(self, params: dict[str, str], key: str) -> date | None:
        raw = params.get(key)
        if not raw:
            return None
        try:
            return vt.parse_date(raw)
        except ValidationFailed:
            raise BadRequest(f"{key} must be a date in format YYYY-mm-dd") from None

    def _int_param(self, params: dict[str, str], key: str, default: int, lo: int, hi: int) -> int:
        raw = params.get(key)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise BadRequest(f"{key} must be an integer") from None
        if not lo <= value <= hi:
            raise BadRequest(f"{key} must be between {lo} and {hi}")
        return value

    def with_values(self, actor: Actor, params: dict[str, str]) -> list:
        """``attributes/with-values/``: each attribute with ``days`` values up to ``date_max``."""
        days = self._int_param(params, "days", 1, 1, 31)
        date_max = self._day_param(params, "date_max") or self.today(actor.username)
        templates = _csv(params, "templates")
        manual = _flag(params, "manual")
        out = []
        for a in self._readable(actor, params):
            if templates is not None and a.template not in templates:
                continue
            if manual and not a.manual:
                continue
            if not a.active or a.priority >= LOW_PRIORITY:
                continue
            item = self.attribute_json(a)
            del item["available_services"]
            # (never before 0001-01-01, which a far-back date_max could reach)
            span = min(days, (date_max - date.min).days + 1)
            item["values"] = [
                {"date": d.isoformat(), "value": a.values.get(d.isoformat())}
                for d in (date_max - timedelta(days=i) for i in range(span))
            ]
            out.append(item)
        return out

    def values(self, actor: Actor, params: dict[str, str]) -> Sequence:
        """``attributes/values/``: every day from ``date_max`` back to the first stored value."""
        name = params.get("attribute")
        if not name:
            raise BadRequest("The 'attribute' parameter is required")
        attr = self.users[actor.username].attributes.get(name)
        if attr is None or not can_read(actor.scopes, attr.group, attr.manual):
            raise NotFound("Not found.")
        date_max = self._day_param(params, "date_max") or self.today(actor.username)
        stored = sorted(d for d in attr.values if d <= date_max.isoformat())
        if not stored:
            return []
        first = date.fromisoformat(stored[0])
        return DaySeries(dict(attr.values), date_max, (date_max - first).days + 1)

    def templates(self, params: dict[str, str]) -> list:
        groups = _csv(params, "groups")
        low = _flag(params, "include_low_priority")
        out = []
        for t in sorted(TEMPLATES.values(), key=lambda t: (GROUPS[t.group].priority, t.priority)):
            if groups is not None and t.group not in groups:
                continue
            if t.priority >= LOW_PRIORITY and not low:
                continue
            out.append(
                {
                    "name": t.name,
                    "label": t.label,
                    "group": GROUPS[t.group].to_json(),
                    "priority": t.priority,
                    "value_type": t.value_type,
                    "value_type_description": VALUE_TYPE_DESCRIPTIONS[t.value_type],
                }
            )
        return out

    # ----------------------------------------------------------------- writes

    def _each(self, items: list[dict], handle) -> WriteResult:
        result = WriteResult()
        for index, item in enumerate(items):
            try:
                result.success.append(handle(index, item))
            except ItemError as err:
                result.failed.append({**item, "error_code": err.code, "error": err.message})
        return result

    @staticmethod
    def _require(index: int, item: dict, fields: tuple[str, ...]) -> None:
        missing = [f for f in fields if f not in item]
        if missing:
            raise MissingField(index, missing)

    @staticmethod
    def _name(item: dict, key: str = "name") -> str:
        name = item[key]
        if not isinstance(name, str) or not name:
            raise ValidationFailed(f"Field '{key}' must be a non-empty string")
        return name

    @staticmethod
    def _manual(item: dict) -> bool | None:
        if "manual" not in item or item["manual"] is None:
            return None
        if not isinstance(item["manual"], bool):
            raise ValidationFailed("Field 'manual' must be a boolean")
        return item["manual"]

    def _lookup(self, actor: Actor, name: str) -> Attribute:
        attr = self.users[actor.username].attributes.get(name)
        if attr is None:
            raise ItemNotFound(f"User doesn't have an attribute named '{name}'")
        return attr

    def _check_write(self, actor: Actor, group: str, manual: bool) -> None:
        if not can_write(actor.scopes, group, manual):
            raise NotAllowed(group)

    def _writable(self, actor: Actor, name: str) -> Attribute:
        """An attribute this actor may write values to: it exists, scope allows, actor owns it."""
        attr = self._lookup(actor, name)
        self._check_write(actor, attr.group, attr.manual)
        if attr.service is None or attr.service != actor.client_id:
            raise Unauthorised(name)
        return attr

    def _from_template(self, template_name: str, manual: bool) -> Attribute:
        t = TEMPLATES.get(template_name)
        if t is None:
            raise ItemNotFound(f"No attribute template named '{template_name}'")
        return Attribute(
            name=t.name,
            label=t.label,
            group=t.group,
            value_type=t.value_type,
            manual=manual,
            template=t.name,
            priority=t.priority,
        )

    def acquire(self, actor: Actor, items: list[dict], success_objects: bool = False):
        """Take ownership. By ``template`` creates the attribute if missing; by ``name`` it must
        exist. Taking an attribute from another service is allowed; acquiring again succeeds."""
        user = self.users[actor.username]

        def handle(index: int, item: dict) -> dict:
            key = "template" if "template" in item else "name"
            if key not in item:
                raise MissingField(index, ["name"])
            name = self._name(item, key)
            manual = self._manual(item)
            attr = user.attributes.get(name)
            if key == "template":
                if attr is not None and attr.template != name:
                    raise ValidationFailed(
                        f"Attribute '{name}' is not templated; acquire it by 'name' instead"
                    )
                if attr is None:
                    attr = self._from_template(name, manual if manual is not None else False)
                    self._check_write(actor, attr.group, attr.manual)
                    user.attributes[name] = attr
            elif attr is None:
                raise ItemNotFound(f"User doesn't have an attribute named '{name}'")
            self._check_write(actor, attr.group, attr.manual if manual is None else manual)
            attr.service = actor.client_id
            attr.active = True
            if manual is not None:
                attr.manual = manual
            if success_objects:
                return self.attribute_json(attr)
            return {**item, "active": True}

        return self._each(items, handle)

    def release(self, actor: Actor, items: list[dict]) -> WriteResult:
        """Give up ownership; with no other service to take over, the attribute goes inactive."""

        def handle(index: int, item: dict) -> dict:
            self._require(index, item, ("name",))
            name = self._name(item)
            attr = self._lookup(actor, name)
            if attr.service is None or attr.service != actor.client_id:
                raise Unauthorised(name)
            attr.service = None
            attr.active = False
            return dict(item)

        return self._each(items, handle)

    def create(self, actor: Actor, items: list[dict], success_objects: bool = False):
        """Create from a ``template`` or from ``label``/``group``/``value_type``; the creating
        client owns the result. ``manual`` defaults to true (docs)."""
        user = self.users[actor.username]

        def handle(index: int, item: dict) -> dict:
            manual = self._manual(item)
            manual = True if manual is None else manual
            if "template" in item:
                attr = self._from_template(self._name(item, "template"), manual)
            else:
                self._require(index, item, ("label", "group", "value_type"))
                label, group, value_type = item["label"], item["group"], item["value_type"]
                if not isinstance(label, str) or not label.strip():
                    raise ValidationFailed("Field 'label' must be a non-empty string")
                if not isinstance(group, str) or group not in GROUPS:
                    raise ValidationFailed(f"Group '{group}' does not exist")
                if not isinstance(value_type, int) or isinstance(value_type, bool):
                    raise ValidationFailed("Field 'value_type' must be an integer")
                if value_type == vt.TIME_FROM_MIDDAY:
                    raise ValidationFailed("Value type 6 is reserved for attribute templates")
                if value_type not in vt.CREATABLE_TYPES:
                    raise ValidationFailed(f"Value type {value_type} does not exist")
                name = slugify(label)
                if not name:
                    raise ValidationFailed("Field 'label' must contain letters or digits")
                attr = Attribute(name, label.strip(), group, value_type, manual)
            self._check_write(actor, attr.group, attr.manual)
            if attr.name in user.attributes:
                raise ValidationFailed(f"Attribute '{attr.name}' already exists")
            attr.service = actor.client_id
            user.attributes[attr.name] = attr
            if success_objects:
                return self.attribute_json(attr)
            return {**item, "name": attr.name, "priority": attr.priority, "manual": attr.manual}

        return self._each(items, handle)

    def update(self, actor: Actor, items: list[dict]) -> WriteResult:
        """Set a day's total. A non-null value can never go back to null."""

        def handle(index: int, item: dict) -> dict:
            self._require(index, item, ("name", "date", "value"))
            attr = self._writable(actor, self._name(item))
            day = vt.parse_date(item["date"]).isoformat()
            before = attr.values.get(day)
            value = item["value"]
            if value is None:
                if before is not None:
                    raise ValidationFailed("A value can't be set back to null")
                return dict(item)
            value = vt.check_value(attr.value_type, value, attr.name)
            attr.values[day] = value
            self._record(actor, attr, day, "update", value, before, value)
            return dict(item)

        return self._each(items, handle)

    def increment(self, actor: Actor, items: list[dict]) -> WriteResult:
        """Add a delta to a day's value (today in the user's timezone without ``date``);
        successes carry ``current``, the new total."""

        def handle(index: int, item: dict) -> dict:
            self._require(index, item, ("name", "value"))
            attr = self._writable(actor, self._name(item))
            if "date" in item and item["date"] is not None:
                day = vt.parse_date(item["date"]).isoformat()
            else:
                day = self.today(actor.username).isoformat()
            delta = vt.check_increment(attr.value_type, item["value"])
            before = attr.values.get(day)
            try:
                current = (before if isinstance(before, (int, float)) else 0) + delta
            except OverflowError:
                raise ValidationFailed("Value out of range") from None
            if isinstance(current, float) and not math.isfinite(current):
                raise ValidationFailed("Value out of range")
            vt.check_range(attr.value_type, current)
            attr.values[day] = current
            self._record(actor, attr, day, "increment", delta, before, current)
            return {**item, "current": current}

        return self._each(items, handle)

    def _record(self, actor: Actor, attr: Attribute, day: str, op: str, value, before, after):
        self.ledger.record(
            request_id=actor.request_id,
            time=self.clock.now().isoformat(),
            username=actor.username,
            client_id=actor.client_id,
            attribute=attr.name,
            date=day,
            op=op,
            value=value,
            before=before,
            after=after,
        )
