"""What Exist computes from a user's data: weekly averages, insights and correlations (reads).

All are paged lists (``reference/averages.md``, ``insights.md``, ``correlations.md``), read
through the client's ``pages`` and so through its budget, retries and error mapping like every
request.
Malformed records are skipped, never raised: a summary is a nicety beside the values.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .client import ExistClient

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class Average:
    """An attribute's most recent weekly averages: ``overall`` and one per weekday."""

    attribute: str
    date: str
    overall: float | None
    weekdays: dict[str, float | None] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Average | None:
        """Build from Exist's JSON; None for a record without an attribute name."""
        name = data.get("attribute")
        if not isinstance(name, str) or not name:
            return None
        return cls(
            attribute=name,
            date=str(data.get("date") or ""),
            overall=_number(data.get("overall")),
            weekdays={day: _number(data.get(day)) for day in WEEKDAYS},
        )


@dataclass(frozen=True)
class Insight:
    """One insight: its text, the day it is about, what created it and when."""

    text: str
    target_date: str
    created: str
    kind: str
    attribute: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Insight | None:
        """Build from Exist's JSON; None for a record without text."""
        text = data.get("text")
        if not isinstance(text, str) or not text.strip():
            return None
        kind = _object(data.get("type"))
        name = _object(kind.get("attribute")).get("name")
        return cls(
            text=" ".join(text.split()),  # Exist separates its two lines with \r\n
            target_date=str(data.get("target_date") or ""),
            created=str(data.get("created") or ""),
            kind=str(kind.get("name") or ""),
            attribute=name if isinstance(name, str) else None,
        )


@dataclass(frozen=True)
class Correlation:
    """One of the week's correlations: the sentence, the two attributes, how strong (a
    percentage) and how sure (``stars``, 5 the most confident)."""

    text: str
    attribute: str
    attribute2: str
    percentage: float
    stars: int
    date: str
    strength: str = ""
    confidence: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Correlation | None:
        """Build from Exist's JSON; None for a record without its sentence or attributes."""
        text, first, second = (data.get(k) for k in ("second_person", "attribute", "attribute2"))
        if not all(isinstance(x, str) and x for x in (text, first, second)):
            return None
        stars = data.get("stars")
        return cls(
            text=str(text),
            attribute=str(first),
            attribute2=str(second),
            percentage=_number(data.get("percentage")) or 0.0,
            stars=stars if isinstance(stars, int) and not isinstance(stars, bool) else 0,
            date=str(data.get("date") or ""),
            strength=str(data.get("strength_description") or ""),
            confidence=str(data.get("stars_description") or ""),
        )


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def averages(
    client: ExistClient,
    attributes: Iterable[str] | None = None,
    groups: Iterable[str] | None = None,
) -> list[Average]:
    """The latest weekly averages (``GET averages/``), filtered by attribute names or groups."""
    params: dict[str, Any] = {}
    if attributes is not None:
        params["attributes"] = ",".join(attributes)
    if groups is not None:
        params["groups"] = ",".join(groups)
    found = (Average.from_json(record) for record in client.pages("/averages/", params))
    return [a for a in found if a is not None]


def insights(client: ExistClient, date_min: str | None = None) -> list[Insight]:
    """Insights (``GET insights/``) about ``date_min`` (``YYYY-mm-dd``) and later, newest
    first as Exist lists them."""
    params = {"date_min": date_min} if date_min else {}
    found = (Insight.from_json(record) for record in client.pages("/insights/", params))
    return [i for i in found if i is not None]


def correlations(
    client: ExistClient, strong: bool = False, confident: bool = False
) -> list[Correlation]:
    """The week's correlations (``GET correlations/``), only the ``strong`` and/or
    ``confident`` (five-star) ones when asked."""
    params = {key: 1 for key, on in (("strong", strong), ("confident", confident)) if on}
    found = (Correlation.from_json(record) for record in client.pages("/correlations/", params))
    return [c for c in found if c is not None]
