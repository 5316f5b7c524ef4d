"""Attributes: bootstrap from config and the value-type registry (values: ``coercion``).

Bootstrap (once, remembered in a small JSON state file): templated attributes are acquired with
``{"template": t, "manual": false}`` (Exist creates them if the user lacks them); custom ones are
acquired by ``name`` and, when Exist answers ``not_found``, created from their ``label``, ``group``
and ``value_type`` (``manual: false``). What was done is recorded per attribute with a fingerprint
of its spec, so a restart does nothing unless the config changed. Per the best practices nothing is
acquired again until a write fails with ``unauthorised`` (another service took the attribute):
then that attribute is re-acquired and the refused items are sent once more (``not_found`` for a
configured attribute likewise re-runs its bootstrap).

Value types and the user's timezone are learned from Exist (acquire/create answers with
``success_objects=1``, owned attributes, the profile), never from a copy of a template table.
Values are coerced before sending: ``9.0`` becomes ``9`` for integer types (0, 3, 4, 6, 7, 8),
percentages (5) must be within 0..1, and NaN, infinity, None and bools are refused with
``InvalidValue`` (a ``ValueError``) instead of wasting a request.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .client import INVALID_ANSWER, Attribute, ExistClient, ItemFailure, WriteResult
from .coercion import coerce_value
from .domain import CREATABLE_VALUE_TYPES, INTEGER_TYPES
from .errors import ExistError, InvalidValue
from .jsonfile import locked, read_json, write_json_atomic

log = logging.getLogger("exist_bridge.attributes")

CREATABLE_TYPES = frozenset(CREATABLE_VALUE_TYPES)  # 6 is reserved for templates

STATE_VERSION = 1
DEFAULT_PROFILE_MAX_AGE = 24 * 3600.0
_ERROR_FIELDS = ("error", "error_code")


# --------------------------------------------------------------------------- specs


def _spec_mapping(data: dict[str, Any] | str | Any) -> dict[str, Any]:
    """An attribute spec as a mapping: a bare name is a template's; another spec object with
    the same fields (e.g. the config loader's) gives those that are set."""
    if isinstance(data, str):
        return {"template": data}
    if not isinstance(data, dict) and hasattr(data, "name") and hasattr(data, "template"):
        fields = ("name", "template", "label", "group", "value_type")
        found = {k: v for k in fields if (v := getattr(data, k, None)) is not None}
        if found.get("template"):
            found.pop("name", None)
        return found
    if not isinstance(data, dict):
        raise ValueError(f"attribute spec must be a mapping, got {type(data).__name__}")
    return data


@dataclass(frozen=True)
class AttributeSpec:
    """One configured attribute: a template, or a custom attribute (by name, creatable when
    ``label``, ``group`` and ``value_type`` are given)."""

    name: str
    template: str | None = None
    label: str | None = None
    group: str | None = None
    value_type: int | None = None

    @classmethod
    def from_config(cls, data: dict[str, Any] | str | Any) -> AttributeSpec:
        """Parse ``{"template": "steps"}``, ``{"name": "x", "label": ..., "group": ...,
        "value_type": 0}``, a bare template name, or any object with those attributes;
        ``ValueError`` with a clear message."""
        data = _spec_mapping(data)
        unknown = sorted(set(data) - {"template", "name", "label", "group", "value_type"})
        if unknown:
            raise ValueError(f"attribute spec: unknown key(s) {', '.join(unknown)}")
        if data.get("template") is not None:
            return cls._template(data)
        return cls._custom(data)

    @classmethod
    def _template(cls, data: dict[str, Any]) -> AttributeSpec:
        template = data["template"]
        if not isinstance(template, str) or not template:
            raise ValueError("attribute spec: 'template' must be a non-empty string")
        extra = [k for k in ("label", "group", "value_type") if k in data]
        if extra or data.get("name", template) != template:
            raise ValueError(
                f"attribute spec '{template}': a template takes its name, label, group and "
                "value type from Exist; give either 'template' or 'name'"
            )
        return cls(name=template, template=template)

    @classmethod
    def _custom(cls, data: dict[str, Any]) -> AttributeSpec:
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError("attribute spec needs 'template' or 'name'")
        label, group, value_type = data.get("label"), data.get("group"), data.get("value_type")
        given = [k for k in ("label", "group", "value_type") if data.get(k) is not None]
        if given and len(given) != 3:
            raise ValueError(
                f"attribute spec '{name}': to create it give all of label, group and value_type"
            )
        if label is not None and (not isinstance(label, str) or not label.strip()):
            raise ValueError(f"attribute spec '{name}': 'label' must be a non-empty string")
        if group is not None and (not isinstance(group, str) or not group):
            raise ValueError(f"attribute spec '{name}': 'group' must be a non-empty string")
        if value_type is not None and (
            isinstance(value_type, bool)
            or not isinstance(value_type, int)
            or value_type not in CREATABLE_TYPES
        ):
            raise ValueError(
                f"attribute spec '{name}': 'value_type' must be one of "
                f"{sorted(CREATABLE_TYPES)} (6 is reserved for templates)"
            )
        return cls(name=name, label=label, group=group, value_type=value_type)

    @property
    def creatable(self) -> bool:
        return self.label is not None and self.group is not None and self.value_type is not None

    def acquire_item(self) -> dict[str, Any]:
        """The object to POST to ``acquire``."""
        if self.template:
            return {"template": self.template, "manual": False}
        return {"name": self.name, "manual": False}

    def create_item(self) -> dict[str, Any]:
        """The object to POST to ``create`` (custom attributes only)."""
        return {
            "label": self.label,
            "group": self.group,
            "value_type": self.value_type,
            "manual": False,
        }

    def fingerprint(self) -> str:
        """Changes whenever the spec does (so a changed config is bootstrapped again)."""
        return json.dumps(
            [self.name, self.template, self.label, self.group, self.value_type], sort_keys=True
        )


def parse_specs(items: Iterable[dict[str, Any] | str]) -> list[AttributeSpec]:
    """Parse a config list of attribute specs; ``ValueError`` for a bad or duplicate one."""
    specs = [AttributeSpec.from_config(i) for i in items]
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise ValueError(f"attribute '{spec.name}' is configured twice")
        seen.add(spec.name)
    return specs


@dataclass
class BootstrapReport:
    """What ``bootstrap`` did."""

    acquired: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already done on an earlier start
    failed: list[ItemFailure] = field(default_factory=list)
    requests: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed


def _strip_errors(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in _ERROR_FIELDS}


def _failure(name: str, code: str, error: str, item: dict[str, Any]) -> ItemFailure:
    return ItemFailure(name, item.get("date"), item.get("value"), code, error, item)


# --------------------------------------------------------------------------- the manager


class AttributeManager:
    """Bootstraps the configured attributes, knows value types and the user's timezone, and
    writes through the client with coercion and re-acquisition.

    ``state_path`` is a JSON file remembering what bootstrap did, learned value types and the
    profile (in memory only when None). It has the same ``update``/``increment`` methods as the
    client, so the flusher can use it as its writer.
    """

    def __init__(
        self,
        client: ExistClient,
        specs: Iterable[AttributeSpec | dict[str, Any] | str] = (),
        state_path: str | os.PathLike[str] | None = None,
        *,
        profile_max_age: float = DEFAULT_PROFILE_MAX_AGE,
        clock: Callable[[], float] | None = None,
        invalid_items: str = "raise",
    ):
        if invalid_items not in ("raise", "fail"):
            raise ValueError("invalid_items must be 'raise' or 'fail'")
        self.client = client
        self.invalid_items = invalid_items
        self.specs: dict[str, AttributeSpec] = {
            s.name: s
            for s in (
                spec if isinstance(spec, AttributeSpec) else AttributeSpec.from_config(spec)
                for spec in specs
            )
        }
        self.state_path = Path(state_path) if state_path is not None else None
        self.profile_max_age = profile_max_age
        self.clock = clock or client.clock
        self._lock = threading.RLock()
        self._state = self._load()
        self._looked_up: set[str] = set()  # names already searched in owned attributes

    # ----------------------------------------------------------------- state file

    def _load(self) -> dict[str, Any]:
        empty: dict[str, Any] = {
            "version": STATE_VERSION,
            "account": None,
            "attributes": {},
            "value_types": {},
            "aliases": {},
        }
        if self.state_path is None:
            return empty
        try:
            data = read_json(self.state_path)
        except (OSError, ValueError) as err:
            log.error("attribute state %s unreadable (%s); starting afresh", self.state_path, err)
            return empty
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            return empty
        for key, default in empty.items():
            if not isinstance(data.get(key), type(default)) and default is not None:
                data[key] = default
        return data

    def _save(self) -> None:
        if self.state_path is None:
            return
        with locked(self.state_path):
            write_json_atomic(self.state_path, self._state)

    # ----------------------------------------------------------------- value types

    def value_type(self, name: str) -> int | None:
        """The value type Exist reported for ``name``, if known."""
        vt = self._state["value_types"].get(self.server_name(name))
        return vt if isinstance(vt, int) else None

    def server_name(self, name: str) -> str:
        """The name Exist gave a configured attribute (differs when its label slugs differently)."""
        alias = self._state["aliases"].get(name)
        return alias if isinstance(alias, str) else name

    def learn(self, attributes: Iterable[Attribute | dict[str, Any]]) -> None:
        """Remember the value types of attributes Exist described."""
        changed = False
        with self._lock:
            for a in attributes:
                attr = a if isinstance(a, Attribute) else Attribute.from_json(a)
                known = self._state["value_types"].get(attr.name)
                if attr.name and attr.value_type is not None and known != attr.value_type:
                    self._state["value_types"][attr.name] = attr.value_type
                    changed = True
            if changed:
                self._save()

    def refresh_value_types(self, names: Iterable[str] | None = None) -> None:
        """Learn value types from the owned attributes (one paged read)."""
        owned = self.client.owned_attributes(attributes=names, include_inactive=True)
        self.learn(owned)

    # ----------------------------------------------------------------- profile

    def timezone(self, refresh: bool = False) -> str:
        """The user's timezone from the profile (re-read after ``profile_max_age`` seconds)."""
        with self._lock:
            account = self._state.get("account") or {}
            fresh = self.clock() - float(account.get("fetched_at", 0)) < self.profile_max_age
            if refresh or not account.get("timezone") or not fresh:
                profile = self.client.profile()
                previous = account.get("username")
                if previous and previous != profile.username:
                    log.warning(
                        "the token now belongs to Exist user %r (was %r): attributes will be "
                        "bootstrapped again",
                        profile.username,
                        previous,
                    )
                    self._state["attributes"] = {}
                    self._state["value_types"] = {}
                    self._state["aliases"] = {}
                self._state["account"] = {
                    "username": profile.username,
                    "timezone": profile.timezone,
                    "fetched_at": self.clock(),
                }
                self._save()
            return str(self._state["account"]["timezone"])

    def today(self) -> str:
        """Today's date (``YYYY-mm-dd``) in the user's timezone."""
        tz = self.timezone()
        try:
            zone = ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            log.warning("unknown timezone %r from Exist; using UTC", tz)
            zone = ZoneInfo("UTC")
        return datetime.fromtimestamp(self.clock(), zone).date().isoformat()

    # ----------------------------------------------------------------- bootstrap

    def set_specs(self, specs: Iterable[AttributeSpec]) -> None:
        """Bootstrap ``specs`` from now on (``bootstrap`` does the ones not yet done)."""
        with self._lock:
            self.specs = {s.name: s for s in specs}

    def bootstrap(self, force: bool = False) -> BootstrapReport:
        """Acquire/create every configured attribute not yet done (or whose spec changed)."""
        report = BootstrapReport()
        with self._lock:
            done = self._state["attributes"]
            todo = []
            for spec in self.specs.values():
                entry = done.get(spec.name)
                if not force and entry and entry.get("spec") == spec.fingerprint():
                    report.skipped.append(spec.name)
                else:
                    todo.append(spec)
            if todo:
                self._ensure(todo, report)
            unknown = [s.name for s in self.specs.values() if self.value_type(s.name) is None]
            unknown = [n for n in unknown if n in done]
            if unknown:
                try:  # one paged read, only when Exist's answers lacked value types
                    owned = self.client.owned_attributes(
                        attributes=[self.server_name(n) for n in unknown], include_inactive=True
                    )
                    report.requests += 1
                    self.learn(owned)
                except ExistError as err:
                    log.warning("could not read owned attributes for value types: %s", err)
        if report.acquired or report.created:
            log.info(
                "attributes bootstrapped: acquired %s, created %s",
                ", ".join(report.acquired) or "none",
                ", ".join(report.created) or "none",
            )
        for f in report.failed:
            log.error("attribute %s: %s (%s)", f.name, f.error, f.error_code)
        return report

    def _ensure(self, specs: list[AttributeSpec], report: BootstrapReport) -> None:
        """Acquire ``specs`` (create the missing custom ones) and record what succeeded."""
        by_key = {(s.template or s.name): s for s in specs}
        result = self.client.acquire([s.acquire_item() for s in specs], success_objects=True)
        report.requests += result.requests
        to_create: list[AttributeSpec] = []
        for obj in result.success:
            spec = by_key.get(str(obj.get("template") or obj.get("name")))
            spec = spec or by_key.get(str(obj.get("name")))
            if spec is not None:
                self._record(spec, "acquired", obj)
                report.acquired.append(spec.name)
        for f in result.failures:
            key = str(f.item.get("template") or f.item.get("name"))
            spec = by_key.get(key)
            if spec is None:
                continue
            if f.error_code == "not_found" and spec.template is None and spec.creatable:
                to_create.append(spec)
            else:
                report.failed.append(_failure(spec.name, f.error_code, f.error, f.item))
        if to_create:
            created = self.client.create([s.create_item() for s in to_create], success_objects=True)
            report.requests += created.requests
            by_label = {str(s.label).strip(): s for s in to_create}
            for obj in created.success:
                spec = by_label.get(str(obj.get("label", "")).strip())
                if spec is None:
                    continue
                self._record(spec, "created", obj)
                report.created.append(spec.name)
            for f in created.failures:
                spec = by_label.get(str(f.item.get("label", "")).strip())
                if spec is not None:
                    report.failed.append(_failure(spec.name, f.error_code, f.error, f.item))
        self._save()

    def _record(self, spec: AttributeSpec, how: str, obj: dict[str, Any]) -> None:
        answered = obj.get("name")
        server_name = answered if isinstance(answered, str) and answered else spec.name
        if server_name != spec.name:
            log.warning(
                "Exist named attribute %r %r; writes to %r go there",
                spec.name,
                server_name,
                spec.name,
            )
            self._state["aliases"][spec.name] = server_name
        vt = obj.get("value_type")
        if isinstance(vt, int) and not isinstance(vt, bool):
            self._state["value_types"][server_name] = vt
        self._state["attributes"][spec.name] = {
            "spec": spec.fingerprint(),
            "done": how,
            "at": self.clock(),
        }

    def is_bootstrapped(self, name: str) -> bool:
        """Whether bootstrap has acquired or created ``name``."""
        return name in self._state["attributes"]

    # ----------------------------------------------------------------- writes

    def _prepare(
        self, items: Iterable[dict[str, Any]], increment: bool
    ) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], InvalidValue]]]:
        objs = [dict(i) for i in items]
        for obj in objs:
            if "name" in obj:
                obj["name"] = self.server_name(str(obj["name"]))
        unknown = {
            str(o.get("name"))
            for o in objs
            if self.value_type(str(o.get("name"))) is None and o.get("name") not in self._looked_up
        }
        if unknown:
            self._looked_up.update(unknown)
            try:
                self.refresh_value_types(sorted(unknown))
            except ExistError as err:
                log.warning("could not learn value types of %s: %s", ", ".join(unknown), err)
        good: list[dict[str, Any]] = []
        bad: list[tuple[dict[str, Any], InvalidValue]] = []
        for obj in objs:
            name = str(obj.get("name", "?"))
            try:
                if "value" not in obj:
                    raise InvalidValue(name, None, "the item has no 'value'")
                value = coerce_value(
                    obj["value"], self.value_type(name), attribute=name, increment=increment
                )
            except InvalidValue as err:
                bad.append((obj, err))
            else:
                good.append({**obj, "value": value})
        return good, bad

    def update(self, items: Iterable[dict[str, Any]]) -> WriteResult:
        """``client.update`` with coercion and one re-acquire-and-retry for ``unauthorised``."""
        return self._write(self.client.update, items, increment=False)

    def increment(self, items: Iterable[dict[str, Any]]) -> WriteResult:
        """``client.increment`` with coercion and one re-acquire-and-retry for ``unauthorised``
        (safe: a refused item was not applied). ``OutcomeUnknown`` propagates unretried."""
        return self._write(self.client.increment, items, increment=True)

    def _write(
        self,
        send: Callable[[list[dict[str, Any]]], WriteResult],
        items: Iterable[dict[str, Any]],
        increment: bool,
    ) -> WriteResult:
        """Coerce, then send. Invalid values raise ``InvalidValue`` before any request, or - with
        ``invalid_items="fail"`` - come back in ``failed`` with ``error_code`` "validation" (as
        if Exist had refused them, without spending a request) while the rest is sent."""
        good, bad = self._prepare(items, increment)
        if bad and self.invalid_items == "raise":
            raise bad[0][1]
        result = self._write_with_reacquire(send, good) if good else WriteResult()
        if increment:
            self._check_currents_fit(result)
        for obj, err in bad:
            result.failed.append(
                {**obj, "error_code": "validation", "error": f"refused before sending: {err}"}
            )
        return result

    def _check_currents_fit(self, result: WriteResult) -> None:
        """Move increment successes whose ``current`` doesn't fit the attribute's value type
        (1.5 for an integer attribute) to ``failed`` as ``invalid_answer``: never stored."""
        kept = []
        for item in result.success:
            vt = self.value_type(str(item.get("name")))
            current = item.get("current")
            if vt in INTEGER_TYPES and isinstance(current, float) and not current.is_integer():
                log.debug(  # the caller reports it (the flusher once per attribute)
                    "increment: Exist answered current=%r for the whole-number attribute %s; "
                    "not stored, retried later",
                    current,
                    item.get("name"),
                )
                result.failed.append(
                    {
                        **item,
                        "error_code": INVALID_ANSWER,
                        "error": f"current {current!r} is not a whole number (value type {vt})",
                    }
                )
            else:
                kept.append(item)
        result.success = kept

    def _write_with_reacquire(
        self, send: Callable[[list[dict[str, Any]]], WriteResult], objs: list[dict[str, Any]]
    ) -> WriteResult:
        result = send(objs)
        retry_codes = ("unauthorised", "not_found")
        names = {
            f.name
            for f in result.failures
            if f.name
            and (
                f.error_code == "unauthorised"
                or (f.error_code == "not_found" and self._spec_for(f.name) is not None)
            )
        }
        if not names:
            return result
        try:
            fixed = self._reacquire(sorted(names), result)
        except ExistError as err:
            log.warning("re-acquiring %s failed: %s", ", ".join(sorted(names)), err)
            return result
        if not fixed:
            return result
        again = [
            _strip_errors(f)
            for f in result.failed
            if f.get("name") in fixed and f.get("error_code") in retry_codes
        ]
        kept = [
            f
            for f in result.failed
            if not (f.get("name") in fixed and f.get("error_code") in retry_codes)
        ]
        retried = send(again)
        log.info("re-acquired %s and re-sent %d item(s)", ", ".join(sorted(fixed)), len(again))
        return WriteResult(
            success=result.success + retried.success,
            failed=kept + retried.failed,
            requests=result.requests + retried.requests,
            statuses=result.statuses + retried.statuses,
        )

    def _spec_for(self, server_name: str) -> AttributeSpec | None:
        for spec in self.specs.values():
            if self.server_name(spec.name) == server_name:
                return spec
        return None

    def _reacquire(self, names: list[str], result: WriteResult) -> set[str]:
        """Acquire ``names`` again (by their spec, else by name); returns the ones now ours."""
        specs = [self._spec_for(n) or AttributeSpec(name=n) for n in names]
        configured = [s for s in specs if s.name in self.specs]
        adhoc = [s for s in specs if s.name not in self.specs]
        fixed: set[str] = set()
        if configured:
            report = BootstrapReport()
            self._ensure(configured, report)
            result.requests += report.requests
            fixed.update(self.server_name(n) for n in report.acquired + report.created)
        if adhoc:
            acquired = self.client.acquire([s.acquire_item() for s in adhoc], success_objects=True)
            result.requests += acquired.requests
            self.learn(acquired.success)
            fixed.update(str(o.get("name")) for o in acquired.success if o.get("name"))
        return fixed


__all__ = [
    "AttributeManager",
    "AttributeSpec",
    "BootstrapReport",
    "coerce_value",
    "parse_specs",
]
