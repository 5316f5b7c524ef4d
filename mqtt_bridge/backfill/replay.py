"""History through the mapping engine: records in, day totals out.

The same ``Mapping.evaluate`` as the live bridge, with each record "received" at its own time, so
the modes mean the same for the past as for the present: an edge counts transitions, a counter adds
increases (the first reading is a baseline), a duration adds whole minutes split at local midnight,
update keeps the day's last value. Per-topic states live in memory for the replay only (never in
the live bridge's outbox). A record the mapping rejects is counted by kind, as live bad input is.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from ..config.model import EdgeSpec, MappingSpec
from ..pipeline.process.mapping import Mapping
from ..pipeline.process.routing import route
from .sources import DayValue, Record

ADHOC_MODES = ("update", "counter", "duration", "increment")


@dataclass
class Totals:
    """Day totals per (attribute, date), and what the replay saw."""

    values: dict[tuple[str, str], int | float | str] = field(default_factory=dict)
    records: int = 0
    events: int = 0
    unmatched: int = 0
    rejected: Counter = field(default_factory=Counter)
    day_totals: bool = False  # read as day totals (a CSV's date,attribute,value), not replayed
    sources: dict[tuple[str, str], str] = field(default_factory=dict)  # where a day came from
    notes: list[str] = field(default_factory=list)  # the plan's lines on what was left out

    def add(self, attribute: str, day: str, mode: str, value: int | float | str) -> None:
        key = (attribute, day)
        old = self.values.get(key)
        if mode == "update" or not isinstance(old, (int, float)) or isinstance(value, str):
            self.values[key] = value
        else:
            total = old + value
            self.values[key] = round(total, 6) if isinstance(total, float) else total

    def merge(self, other: Totals, only: dict[str, set[str] | None], source: str) -> None:
        """Take ``other``'s totals (and counts), naming ``source`` for each day: for an
        attribute in ``only`` with a set, only those days."""
        for (attribute, day), value in other.values.items():
            days = only.get(attribute)
            if days is None or day in days:
                self.values[attribute, day] = value
                self.sources[attribute, day] = source
        self.records += other.records
        self.events += other.events
        self.unmatched += other.unmatched
        self.rejected.update(other.rejected)


def adhoc_mapping(
    index: int, entity: str, attribute: str, mode: str, learned_type: int | None = None
) -> Mapping:
    """The mapping for ``--entity ENTITY=ATTRIBUTE:MODE``: reads the entity's state; increment
    counts each change to on (an edge)."""
    if mode not in ADHOC_MODES:
        raise ValueError(f"--entity {entity}: mode must be one of {', '.join(ADHOC_MODES)}")
    edge = EdgeSpec(to=True) if mode == "increment" else None
    spec = MappingSpec(topic=entity, attribute=attribute, mode=mode, edge=edge)
    return Mapping(index, spec, learned_type=learned_type)


def replay(
    records: Iterable[Record],
    mappings: list[Mapping],
    timezone: str,
    start: date,
    end: date,
) -> Totals:
    """Every record, in the given (time) order, through the mappings its topic feeds; the day
    totals of the local dates from ``start`` to ``end``."""
    zone = ZoneInfo(timezone)
    first, last = start.isoformat(), end.isoformat()
    totals = Totals()
    states: dict[str, object] = {}
    for record in records:
        totals.records += 1
        matched = route(mappings, record.topic)
        if not matched:
            totals.unmatched += 1
        for mapping in matched:
            key = mapping.state_key(record.topic)
            result = mapping.evaluate(
                record.topic,
                record.payload.encode("utf-8", "surrogatepass"),
                record.snapshot,
                states.get(key),
                received_at=record.at,
                zone=zone,
            )
            if mapping.uses_state and result.new_state is not None:
                states[key] = result.new_state
            if result.rejected is not None:
                totals.rejected[result.rejected.kind] += 1
            for event in result.events:
                when = record.at if event.at is None else event.at
                day = datetime.fromtimestamp(when, zone).date().isoformat()
                if first <= day <= last:
                    totals.events += 1
                    totals.add(event.attribute, day, event.mode, event.value)
    return totals


def day_values(values: Iterable[DayValue], start: date, end: date) -> Totals:
    """A CSV's day totals (the last one per attribute and day wins), within ``start``..``end``."""
    totals = Totals(day_totals=True)
    for v in values:
        totals.records += 1
        if start.isoformat() <= v.date <= end.isoformat():
            totals.events += 1
            totals.add(v.attribute, v.date, "update", v.value)
    return totals
