"""Day totals from Home Assistant's long-term statistics (``--statistics``).

The recorder keeps hourly statistics for every sensor with a ``state_class``, for years (the
REST history only what ``purge_keep_days`` left). Hourly rows are read, never Home Assistant's
``day`` rows: those follow Home Assistant's midnight, the days here follow the bridge's time zone
(a local day is the hours whose start falls on it; 23 or 25 of them when the clocks change).

A statistic becomes an attribute's day value by its **kind** (``ENTITY=ATTRIBUTE:KIND``):

- ``change``: what a counter or meter added that day (the hourly ``change`` column; where it is
  missing, the increase of ``sum``); ``sum``: the same from the ``sum`` column only;
- ``max`` / ``min``: the day's highest / lowest reading; ``state``: the last reading of the day
  (a sensor that holds a day's total, such as a phone's steps today);
- ``mean``: the mean of the day's hourly means (an average such as a temperature).

Without a kind: ``change`` for a statistic with a sum, ``mean`` for one with a mean.
Units: where the attribute wants another unit than the statistic's (an Exist template's unit,
e.g. kg for ``weight``, km for ``steps_distance``; or ``ENTITY=ATTRIBUTE:KIND:UNIT``), Home
Assistant converts it (the command's ``units``, by the statistic's unit class).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import Any

from ..exist.domain import INTEGER_TYPES
from .ha_websocket import HomeAssistantWebSocket
from .sources import SourceError

KINDS = ("change", "sum", "max", "min", "state", "mean")
# the mapping mode that gives the same day total from the REST history (none for min/mean)
HISTORY_MODE = {"change": "counter", "sum": "counter", "max": "update", "state": "update"}
# units Exist keeps its templates in (its attribute reference), as Home Assistant spells them
TEMPLATE_UNITS = {
    "steps_distance": "km",
    "steps_elevation": "km",
    "cycle_distance": "km",
    "workouts_distance": "km",
    "weight": "kg",
    "lean_mass": "kg",
}
WINDOW_DAYS = 31  # days of hourly rows per request


@dataclass(frozen=True)
class Choice:
    """What ``--entity ENTITY[=ATTRIBUTE[:KIND[:UNIT]]]`` asks for."""

    entity: str
    attribute: str | None = None
    kind: str | None = None  # a statistics kind or a history mode; None: by the metadata
    unit: str | None = None


def parse_choice(text: str) -> Choice:
    """``ENTITY``, ``ENTITY=ATTRIBUTE``, ``ENTITY=ATTRIBUTE:KIND`` or ``...:KIND:UNIT``."""
    entity, sep, target = text.partition("=")
    entity = entity.strip()
    if not entity:
        raise ValueError(f"--entity {text!r}: no entity id")
    if not sep:
        return Choice(entity)
    attribute, _, rest = target.partition(":")
    if not attribute.strip():
        raise ValueError(f"--entity {text!r}: no attribute after '='")
    kind, _, unit = rest.partition(":")
    return Choice(entity, attribute.strip(), kind.strip().lower() or None, unit.strip() or None)


def one_statistic_per_attribute(statistics: list[Choice], choices: list[Choice]) -> None:
    """Refuse an attribute read from a statistic and named by another ``--entity`` too: a day
    has one value, so one of them would silently replace the other."""
    for chosen in statistics:
        other = next((c for c in choices if c.attribute == chosen.attribute and c != chosen), None)
        if other is not None:
            raise ValueError(
                f"--entity {other.entity}={other.attribute}: {chosen.entity} is read into "
                f"{chosen.attribute} already (a day has one value, the second would replace "
                "the first): one statistic per attribute"
            )


def check_kinds(choices: list[Choice], history_modes: tuple[str, ...]) -> None:
    """Refuse a kind that is neither a statistics kind nor a history mode, before anything is
    read (a typo: ``chnage``)."""
    for choice in choices:
        if choice.kind is None or choice.kind in KINDS or choice.kind in history_modes:
            continue
        like = difflib.get_close_matches(choice.kind, [*KINDS, *history_modes], n=1)
        raise ValueError(
            f"--entity {choice.entity}: {choice.kind!r} is neither a statistics kind "
            f"({', '.join(KINDS)}) nor a history mode ({', '.join(history_modes)})"
            + (f": did you mean {like[0]}?" if like else "")
        )


def no_history(statistic_id: str, mode: str | None, kind: str | None) -> str | None:
    """Why the REST history can't fill a statistic's missing days, or None when it can. An
    external statistic (``source:name``, from an integration such as a utility's) is no entity:
    Home Assistant answers a history request naming it with 400, failing the whole request."""
    if ":" in statistic_id:
        return "an external statistic (source:name) has no history"
    if mode is None:
        return f"the history has no {kind}"
    return None


def default_kind(meta: dict[str, Any]) -> str | None:
    """``change`` for a statistic with a sum, ``mean`` for one with a mean (``has_mean``, or a
    non-zero ``mean_type`` in newer Home Assistants), else None."""
    if meta.get("has_sum"):
        return "change"
    if meta.get("has_mean") or meta.get("mean_type"):
        return "mean"
    return None


@dataclass
class Read:
    """What the statistics gave: day values, their entities, and the days they lack."""

    values: dict[tuple[str, str], int | float] = field(default_factory=dict)
    rows: int = 0
    uncovered: dict[Choice, list[date]] = field(default_factory=dict)  # statistics, some days
    missing: list[Choice] = field(default_factory=list)  # no statistics at all
    unknown: dict[str, list[str]] = field(default_factory=dict)  # missing id -> ids like it


def read_statistics(
    ha: HomeAssistantWebSocket,
    choices: list[Choice],
    start: date,
    end: date,
    zone: tzinfo,
    value_type: Callable[[str], int | None],
) -> Read:
    """Each choice's day values from ``start`` to ``end`` (local dates in ``zone``); a choice
    without statistics goes to ``missing``, the days its statistics lack to ``uncovered``.
    Every choice has an attribute and a statistics kind or none (then the metadata's)."""
    metadata = {s["statistic_id"]: s for s in ha.list_statistic_ids()}
    read = Read()
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    for choice in choices:
        meta = metadata.get(choice.entity)
        if meta is None:
            read.missing.append(choice)
            like = difflib.get_close_matches(choice.entity, list(metadata), n=2, cutoff=0.8)
            if like:
                read.unknown[choice.entity] = like
            continue
        kind = choice.kind or default_kind(meta)
        if kind is None:
            raise ValueError(
                f"--entity {choice.entity}: its statistics have neither a sum nor a mean: "
                f"give the kind ({', '.join(KINDS)})"
            )
        assert choice.attribute is not None
        units = _units(choice, meta)
        rows = _hourly_rows(ha, choice.entity, start, end, zone, units)
        read.rows += len(rows)
        totals = day_totals(rows, kind, zone)
        integer = value_type(choice.attribute) in INTEGER_TYPES
        lacking = []
        for day in days:
            value = totals.get(day)
            if value is None:
                lacking.append(day)
            else:
                read.values[choice.attribute, day.isoformat()] = (
                    round(value) if integer else round(value, 6)
                )
        if lacking:  # (with the kind chosen: the history's mode follows from it)
            read.uncovered[replace(choice, kind=kind)] = lacking
    return read


def _units(choice: Choice, meta: dict[str, Any]) -> dict[str, str] | None:
    """The ``units`` to ask for: the attribute's unit where the statistic's differs."""
    wanted = choice.unit or TEMPLATE_UNITS.get(choice.attribute or "")
    have = meta.get("statistics_unit_of_measurement")
    if wanted is None or wanted == have:
        return None
    unit_class = meta.get("unit_class")
    if not unit_class:
        raise ValueError(
            f"--entity {choice.entity}: its statistics are in {have or 'no unit'}, "
            f"{choice.attribute} wants {wanted}, and Home Assistant knows no conversion for it"
        )
    return {unit_class: wanted}


def _hourly_rows(
    ha: HomeAssistantWebSocket,
    entity: str,
    start: date,
    end: date,
    zone: tzinfo,
    units: dict[str, str] | None,
) -> list[dict[str, Any]]:
    """The entity's hourly rows from the hour before local midnight of ``start`` (the sum
    before the first day) to local midnight after ``end``, ``WINDOW_DAYS`` per request."""
    rows: list[dict[str, Any]] = []
    day = start
    types = ["change", "sum", "state", "max", "min", "mean"]
    while day <= end:
        last = min(day + timedelta(days=WINDOW_DAYS - 1), end)
        since = datetime.combine(day, time(), zone)
        if day == start:
            since -= timedelta(hours=1)
        until = datetime.combine(last + timedelta(days=1), time(), zone)
        got = ha.statistics_during_period([entity], since, until, "hour", types, units)
        rows.extend(got.get(entity, []))
        day = last + timedelta(days=1)
    return rows


def row_start(row: dict[str, Any]) -> datetime:
    """A row's start: epoch milliseconds (Home Assistant 2023.3 and later) or ISO 8601."""
    value = row.get("start")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, timezone.utc)
    if isinstance(value, str):
        try:
            stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)
    raise SourceError(f"Home Assistant: a statistics row has no readable start: {value!r}")


def day_totals(rows: Iterable[dict[str, Any]], kind: str, zone: tzinfo) -> dict[date, float]:
    """Each local day's value of ``kind`` from hourly ``rows`` (in time order); a day none of
    whose rows has the kind's column is left out."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    by_day: dict[date, list[float]] = {}
    last_sum: float | None = None
    for row in rows:
        day = row_start(row).astimezone(zone).date()
        value, last_sum = _hourly_value(row, kind, last_sum)
        if value is not None:
            by_day.setdefault(day, []).append(value)
    return {day: _combine(kind, values) for day, values in by_day.items()}


def _hourly_value(
    row: dict[str, Any], kind: str, last_sum: float | None
) -> tuple[float | None, float | None]:
    """One row's contribution to its day under ``kind``, and the sum it leaves."""
    total = _number(row.get("sum"))
    if kind in ("change", "sum"):
        change = _number(row.get("change")) if kind == "change" else None
        if change is None and total is not None and last_sum is not None:
            change = total - last_sum
        return change, total if total is not None else last_sum
    return _number(row.get(kind)), last_sum


def _combine(kind: str, values: list[float]) -> float:
    if kind in ("change", "sum"):
        return sum(values)
    if kind == "max":
        return max(values)
    if kind == "min":
        return min(values)
    if kind == "state":
        return values[-1]
    return sum(values) / len(values)  # mean: every hour weighs the same


def _number(value: object) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None
