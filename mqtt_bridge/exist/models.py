"""What the Exist client returns: write results, the profile, attributes and their values."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ItemFailure:
    """One refused item of a write: Exist's ``error_code`` and ``error`` plus the item."""

    name: str | None
    date: str | None
    value: Any
    error_code: str
    error: str
    item: dict[str, Any]


@dataclass
class WriteResult:
    """The merged answer of one or more write requests.

    ``success`` and ``failed`` are the objects Exist echoed (failures with ``error_code`` and
    ``error``; increment successes with ``current``). ``requests`` counts the HTTP requests sent.
    """

    success: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    statuses: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no item failed."""
        return not self.failed

    @property
    def status(self) -> int:
        """200 when every item succeeded, 202 when any failed (as Exist answers)."""
        return 202 if self.failed else 200

    @property
    def failures(self) -> list[ItemFailure]:
        """``failed`` as typed records."""
        return [
            ItemFailure(
                name=f.get("name") if isinstance(f.get("name"), str) else None,
                date=f.get("date") if isinstance(f.get("date"), str) else None,
                value=f.get("value"),
                error_code=str(f.get("error_code") or "unknown"),
                error=str(f.get("error") or ""),
                item=f,
            )
            for f in self.failed
        ]

    def merge(self, other: WriteResult) -> WriteResult:
        """Add ``other``'s items and requests to this result (returns ``self``)."""
        self.success.extend(other.success)
        self.failed.extend(other.failed)
        self.requests += other.requests
        self.statuses.extend(other.statuses)
        return self


@dataclass(frozen=True)
class Profile:
    """The authenticated user's profile (``GET /api/2/accounts/profile/``)."""

    username: str
    timezone: str
    first_name: str = ""
    last_name: str = ""
    local_time: str | None = None
    imperial_distance: bool = False
    imperial_weight: bool = False
    imperial_energy: bool = False
    imperial_liquid: bool = False
    imperial_temperature: bool = False
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Profile:
        """Build from Exist's JSON."""
        return cls(
            username=str(data.get("username") or ""),
            timezone=str(data.get("timezone") or "UTC"),
            first_name=str(data.get("first_name") or ""),
            last_name=str(data.get("last_name") or ""),
            local_time=data.get("local_time"),
            imperial_distance=bool(data.get("imperial_distance")),
            imperial_weight=bool(data.get("imperial_weight")),
            imperial_energy=bool(data.get("imperial_energy")),
            imperial_liquid=bool(data.get("imperial_liquid")),
            imperial_temperature=bool(data.get("imperial_temperature")),
            raw=dict(data),
        )


@dataclass(frozen=True)
class AttributeValue:
    date: str
    value: Any


@dataclass(frozen=True)
class Attribute:
    """An attribute as Exist describes it (owned, with-values, acquire/create success objects)."""

    name: str
    label: str = ""
    group: str | None = None
    value_type: int | None = None
    value_type_description: str | None = None
    template: str | None = None
    manual: bool | None = None
    active: bool | None = None
    priority: int | None = None
    service: str | None = None  # the owning service's name
    values: tuple[AttributeValue, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Attribute:
        """Build from Exist's JSON (tolerates the short objects of write answers)."""
        group = data.get("group")
        service = data.get("service")
        value_type = data.get("value_type")
        values = data.get("values")
        if not isinstance(values, list):  # null, or a malformed answer: no values
            values = []
        return cls(
            name=str(data.get("name") or data.get("template") or ""),
            label=str(data.get("label") or ""),
            group=group.get("name") if isinstance(group, dict) else group,
            value_type=(
                value_type
                if isinstance(value_type, int) and not isinstance(value_type, bool)
                else None
            ),
            value_type_description=data.get("value_type_description"),
            template=data.get("template"),
            manual=data.get("manual"),
            active=data.get("active"),
            priority=data.get("priority"),
            service=service.get("name") if isinstance(service, dict) else service,
            values=tuple(
                AttributeValue(str(v.get("date")), v.get("value"))
                for v in values
                if isinstance(v, dict)
            ),
            raw=dict(data),
        )

    def value_on(self, date: str) -> Any:
        """The value for ``date`` among ``values`` (None when absent)."""
        for v in self.values:
            if v.date == date:
                return v.value
        return None


# --------------------------------------------------------------------------- helpers
