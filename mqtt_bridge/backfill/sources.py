"""Where history comes from: Home Assistant's REST history API, or a CSV file.

Every source yields either ``Record``s (a state at a time on a topic: replayed through the mapping
engine, as if the message had arrived then) or ``DayValue``s (a day's total for an attribute: the
CSV's ``date,attribute,value`` form, sent as is).

A Home Assistant entity becomes a topic in one of two ways (``EntityRoute``):
- ``ENTITY=ATTRIBUTE:MODE`` on the command line: an ad-hoc mapping reading the entity's state
  (``topic`` is the entity id); MODE is update, counter, duration, or increment (each change to
  ``on``/``open``/... : an edge);
- otherwise the topic Home Assistant's ``mqtt_statestream`` would publish the state on
  (``<prefix>/<domain>/<object_id>/state``), replayed through the configuration's own mappings.
A CSV ``entity`` holding a ``/`` is an MQTT topic already (a log of MQTT messages).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from urllib.parse import quote

import requests

from ..exist.domain import INTEGER_TYPES, STRING, VALUE_TYPES
from ..expressions import parse_number
from ..pipeline.process.event_time import parse_time

HA_WINDOW_DAYS = 7  # days of history per Home Assistant request
DAY_COLUMNS = ("date", "attribute", "value")
RECORD_COLUMNS = ("timestamp", "entity", "state")


class SourceError(Exception):
    """History can't be read: one line naming the file, line or host (``problems``: one such
    line per bad CSV row, when there are several)."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = problems or [message]


MAX_PROBLEMS = 20  # bad CSV rows listed one by one


@dataclass(frozen=True)
class Record:
    """A state at a time: replayed as a message on ``topic`` received at ``at``."""

    at: float
    topic: str
    payload: str
    snapshot: bool = False  # the state at the start of a period (replayed as retained)


@dataclass(frozen=True)
class DayValue:
    """A day's total for an attribute, sent as is."""

    attribute: str
    date: str
    value: int | float | str
    line: int = 0  # the CSV line it came from


def statestream_topic(entity_id: str, prefix: str = "homeassistant") -> str:
    """The topic ``mqtt_statestream`` publishes ``entity_id``'s state on."""
    domain, _, object_id = entity_id.partition(".")
    return f"{prefix}/{domain}/{object_id}/state"


def entity_topic(entity: str, adhoc: Iterable[str], prefix: str) -> str:
    """The topic a history entity is replayed on (see the module docstring)."""
    if "/" in entity or entity in adhoc:
        return entity
    return statestream_topic(entity, prefix)


# ------------------------------------------------------------------------------ Home Assistant


class HomeAssistantHistory:
    """``GET /api/history/period/<start>?filter_entity_id=...&end_time=...&minimal_response``
    with a long-lived access token, ``HA_WINDOW_DAYS`` at a time."""

    def __init__(self, url: str, token: str, timeout: float = 60.0, session=None):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.session = session or requests.Session()
        self.requests = 0

    def records(
        self,
        entities: list[str],
        start: date,
        end: date,
        zone: tzinfo,
        topic_of: dict[str, str],
    ) -> Iterator[Record]:
        """Every state change of ``entities`` from local midnight of ``start`` to local midnight
        after ``end``, in time order per window; the first state of each entity in a window is
        a snapshot (its state at the window's start)."""
        day = start
        while day <= end:
            last = min(day + timedelta(days=HA_WINDOW_DAYS - 1), end)
            since = datetime.combine(day, datetime.min.time(), zone)
            until = datetime.combine(last + timedelta(days=1), datetime.min.time(), zone)
            rows: list[Record] = []
            for series in self._period(entities, since, until):
                rows.extend(self._series(series, since.timestamp(), topic_of))
            rows.sort(key=lambda r: (r.at, not r.snapshot))
            yield from rows
            day = last + timedelta(days=1)

    def _period(self, entities: list[str], since: datetime, until: datetime) -> list:
        path = f"/api/history/period/{quote(since.isoformat())}"
        params = {
            "filter_entity_id": ",".join(entities),
            "end_time": until.isoformat(),
            "minimal_response": "",
            "no_attributes": "",
        }
        where = f"Home Assistant at {self.url}"
        try:
            response = self.session.get(
                self.url + path,
                params=params,
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=self.timeout,
            )
        except requests.RequestException as err:
            raise SourceError(f"{where}: {type(err).__name__}: {err}") from None
        self.requests += 1
        if response.status_code == 401:
            raise SourceError(f"{where} refused the token (401): use a long-lived access token")
        if response.status_code == 404:  # Home Assistant has no page path: a copied browser URL
            raise SourceError(
                f"{where} answered 404 to {path}: give Home Assistant's own address, like "
                "http://homeassistant.local:8123, without a page's path"
            )
        if response.status_code != 200:
            raise SourceError(f"{where} answered {response.status_code} to {path}")
        try:
            data = response.json()
        except ValueError:
            raise SourceError(f"{where}: the history answer is not JSON") from None
        if not isinstance(data, list) or not all(isinstance(s, list) for s in data):
            raise SourceError(f"{where}: the history answer is not a list of lists")
        return data

    def _series(self, series: list, since: float, topic_of: dict[str, str]) -> Iterator[Record]:
        entity = None
        for n, state in enumerate(series):
            if not isinstance(state, dict):
                continue
            entity = state.get("entity_id", entity)
            if entity not in topic_of or "state" not in state:
                continue
            stamp = state.get("last_changed") or state.get("last_updated")
            try:
                at = parse_time(stamp, timezone.utc)
            except ValueError:
                raise SourceError(
                    f"Home Assistant: {entity}: unreadable last_changed {stamp!r}"
                ) from None
            yield Record(max(at, since), topic_of[entity], str(state["state"]), snapshot=n == 0)


# ------------------------------------------------------------------------------ CSV


def read_csv(
    path: Path,
    zone: tzinfo,
    topic_of_entity: Callable[[str], str],
    value_type: Callable[[str], int | None] | None = None,
) -> tuple[list[Record], list[DayValue]]:
    """The CSV's records (``timestamp,entity,state``) or day values (``date,attribute,value``),
    told apart by the header. Timestamps: epoch s/ms or ISO 8601 (naive: in ``zone``).

    Day values are checked here, before anything is sent: each against its attribute's value
    type when ``value_type`` knows it (a number for every type but string, a whole number for
    the integer types), and one row per (date, attribute): a second one is refused with both
    lines. An attribute whose type is unknown passes (the plan flags it)."""
    rows = _csv_rows(path)
    header = tuple(c.strip().lower() for c in rows[0])
    if header not in (DAY_COLUMNS, RECORD_COLUMNS):
        raise SourceError(
            f"{path}:1: the header must be {','.join(DAY_COLUMNS)} or {','.join(RECORD_COLUMNS)}"
        )
    records: list[Record] = []
    days: list[DayValue] = []
    seen: dict[tuple[str, str], int] = {}  # (attribute, date) -> its line
    problems: list[str] = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != 3:
            problems.append(f"{path}:{line}: expected 3 columns, got {len(row)}")
            continue
        first, second, third = (cell.strip() for cell in row)
        found: Record | DayValue | str
        if header == DAY_COLUMNS:
            found = _day_row(first, second, third, line, seen, value_type)
        else:
            found = _record_row(first, second, third, zone, topic_of_entity)
        if isinstance(found, str):
            problems.append(f"{path}:{line}: {found}")
        elif isinstance(found, DayValue):
            days.append(found)
        else:
            records.append(found)
    _refuse(path, problems)
    records.sort(key=lambda r: r.at)  # stable: same-time rows keep the file's order
    return records, days


def _csv_rows(path: Path) -> list[list[str]]:
    """The CSV's rows, the header first (at least that one)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise SourceError(f"{path}: {err}") from None
    if not rows:
        raise SourceError(f"{path}: empty file")
    return rows


def _day_row(
    day_text: str,
    attribute: str,
    text: str,
    line: int,
    seen: dict[tuple[str, str], int],
    value_type: Callable[[str], int | None] | None,
) -> DayValue | str:
    """A ``date,attribute,value`` row, or what is wrong with it (``seen``: the rows so far)."""
    try:
        day = date.fromisoformat(day_text).isoformat()
    except ValueError:
        return f"{day_text!r} is not a date (YYYY-MM-DD)"
    if (attribute, day) in seen:
        return (
            f"{attribute} {day} is also on line {seen[attribute, day]}: "
            "one total per date and attribute"
        )
    seen[attribute, day] = line
    value = _day_value(text, value_type(attribute) if value_type else None)
    if isinstance(value, SourceError):
        return f"{attribute} {day}: {value}"
    return DayValue(attribute, day, value, line)


def _record_row(
    stamp: str, entity: str, state: str, zone: tzinfo, topic_of_entity: Callable[[str], str]
) -> Record | str:
    """A ``timestamp,entity,state`` row, or what is wrong with it."""
    try:
        at = parse_time(stamp, zone)
    except ValueError as err:
        return str(err)
    return Record(at, topic_of_entity(entity), state)


def _refuse(path: Path, problems: list[str]) -> None:
    """Raise ``SourceError`` for the rows' problems, if any: one line, or a summary with the
    first ``MAX_PROBLEMS`` of them."""
    if len(problems) == 1:
        raise SourceError(problems[0])
    if problems:
        shown = problems[:MAX_PROBLEMS]
        if len(problems) > MAX_PROBLEMS:
            shown.append(f"{path}: ... and {len(problems) - MAX_PROBLEMS} more")
        raise SourceError(f"{path}: {len(problems)} bad row(s): nothing was sent", shown)


def _day_value(text: str, value_type: int | None) -> int | float | str | SourceError:
    """A day CSV's value for an attribute of ``value_type`` (None: unknown), or why not."""
    if value_type == STRING:
        return text
    number = parse_number(text)
    if value_type is None:
        return text if number is None else number
    kind = VALUE_TYPES.get(value_type, str(value_type))
    if number is None or not math.isfinite(number):
        return SourceError(f"{text!r} is not a number ({kind})")
    if value_type in INTEGER_TYPES:
        if not float(number).is_integer():
            return SourceError(f"{number} is not a whole number ({kind})")
        number = int(number)
    return number
