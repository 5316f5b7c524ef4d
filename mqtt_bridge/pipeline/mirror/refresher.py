"""The refresher: every ``read.interval`` (an hour by default) read Exist once and publish it.

One refresh is one ``attributes/with-values/`` request (a page per 100 attributes) for today and
the six days before; once a day, when asked, one ``averages/``, one ``insights/`` (``date_min``
yesterday) and one ``correlations/`` request (``strong``/``confident`` filters; a page per 100).
Every request goes through the write side's client, so through the same request budget, 429
handling and stop deadline.

Writes keep priority. A refresh waits (``status`` and the log say why) while:
- a write is due within ``WRITE_LEAD`` seconds, or overdue (a postponed flush: an outage, a 429),
- the request budget is tight: fewer than ``reserve`` requests left this hour (a quarter of the
  budget, at least ``MIN_RESERVE``), or a 429 pause is in force.
It is tried again ``POSTPONE`` seconds later. So reads only ever spend what writes don't need.

No loops: an attribute the bridge writes is mirrored with the value Exist confirmed to the
write side (``confirmed``, fed by each flush), at once and without a read; ``exist-bridge
check`` refuses a mapping that would consume the mirror's topics.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ...backoff import Backoff
from ...config.model import ReadSettings
from ...exist import summaries
from ...exist.budget import token_key
from ...exist.client import ExistClient
from ...exist.errors import ExistError, RateLimited
from ...exist.jsonfile import write_json_atomic
from ...exist.models import Attribute
from ...exist.summaries import Correlation, Insight
from . import discovery
from .values import DAYS, Mirrored

log = logging.getLogger("exist_bridge.mirror")

WRITE_LEAD = 60.0  # a write due this soon goes first: the refresh waits
POSTPONE = 60.0  # a refresh that waited is tried again this much later
MIN_RESERVE = 10  # requests of the hourly budget never spent on reads, at least
RESERVE_SHARE = 0.25  # ... or this share of the budget
STATE_TEXT_LIMIT = 255  # Home Assistant's longest state
NOT_IN_A_TOPIC_LEVEL = frozenset(
    "/+#\x00"
)  # characters an attribute's name (a topic level) can't have
CORRELATIONS_SHOWN = 20  # the most confident, then strongest, in the correlations document


@dataclass(frozen=True)
class DiscoveryTarget:
    """Where and as what the mirror announces its entities to Home Assistant."""

    prefix: str
    node: str
    version: str
    availability_topic: str


Publish = Callable[[str, str], None]  # (topic, payload): retained, QoS 1


def _kind(reason: str | None) -> str | None:
    """A postponement's cause without its numbers ("the request budget is tight")."""
    return None if reason is None else reason.split(" (")[0]


class Refresher:
    """Reads Exist and publishes the mirrored attributes; ``run`` loops, ``step`` is one turn."""

    def __init__(
        self,
        settings: ReadSettings,
        client: ExistClient,
        publish: Publish,
        timezone_name: str,
        *,
        write_due: Callable[[], float] = lambda: math.inf,
        discovery_target: DiscoveryTarget | None = None,
        status_path: Path | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.settings = settings
        self.client = client
        self.publish = publish
        self.zone = ZoneInfo(timezone_name)
        self.write_due = write_due  # clock time the earliest pending write is due (inf: none)
        self.discovery_target = discovery_target
        self.status_path = status_path
        self.clock = clock
        self.prefix = settings.topic_prefix.strip("/")
        self.alarm = threading.Event()  # what the loop sleeps on
        self.next_at = 0.0  # the first refresh at once
        self.known: dict[str, Mirrored] = {}
        self.insights: list[Insight] = []
        self.correlations: list[Correlation] = []
        self.summaries_day: str | None = None  # the local date averages/insights were read
        self.last_refresh: float | None = None
        self.refreshes = 0
        self.postponed: str | None = None
        self._announced: dict[str, dict[str, Any]] = {}
        self._unread: list[str] = []  # named attributes Exist answered nothing for, said once
        self._outage = Backoff(POSTPONE, max(POSTPONE, float(settings.interval)))
        self._lock = threading.Lock()  # ``known``: the refresher's thread and the flusher's

    # ----------------------------------------------------------------- topics

    def state_topic(self, attribute: str) -> str:
        return f"{self.prefix}/{attribute}/state"

    @property
    def insights_topic(self) -> str:
        return f"{self.prefix}/insights/state"

    @property
    def correlations_topic(self) -> str:
        return f"{self.prefix}/correlations/state"

    def summary_topics(self) -> dict[str, str]:
        """The summary sensors configured (``discovery.SUMMARIES``) -> their state topics."""
        topics = {}
        if self.settings.insights:
            topics["insight"] = self.insights_topic
        if self.settings.correlations is not None:
            topics["correlation"] = self.correlations_topic
        return topics

    # ----------------------------------------------------------------- when

    @property
    def reserve(self) -> int:
        """Requests of the hourly budget kept for writes."""
        return max(MIN_RESERVE, math.ceil(self.client.budget.allowed * RESERVE_SHARE))

    def hold_reason(self, now: float) -> str | None:
        """Why a refresh must wait now (None: it may go)."""
        if self.write_due() <= now + WRITE_LEAD:
            return "a write to Exist is due: reads wait for it"
        budget = self.client.budget.status(token_key(self.client.credentials.access_token()))
        if budget.wait > 0:
            return f"the request budget: {budget.reason}"
        if budget.remaining < self.reserve:
            return (
                f"the request budget is tight ({budget.remaining} of {budget.allowed} left this "
                f"hour; {self.reserve} are kept for writes)"
            )
        return None

    def step(self) -> float:
        """Refresh if it is time and nothing has priority; the clock time of the next turn."""
        now = self.clock()
        if now < self.next_at:
            return self.next_at
        reason = self.hold_reason(now)
        if reason is None:
            try:
                self.refresh()
                self._outage.reset()
                reason, wait = None, float(self.settings.interval)
            except RateLimited as err:  # the budget ran out meanwhile, or Exist's 429
                reason, wait = f"rate limited: {err}", max(POSTPONE, err.retry_after)
            except ExistError as err:
                reason, wait = f"Exist unavailable: {err}", self._outage.next()
        else:
            wait = POSTPONE
        if _kind(reason) != _kind(self.postponed):  # logged once per cause, not every minute
            if reason:
                log.info("refresh of the Exist mirror postponed %.0fs: %s", wait, reason)
            elif self.postponed:
                log.info("refresh of the Exist mirror done after waiting (%s)", self.postponed)
        self.postponed = reason
        self.next_at = now + wait
        self._save_status()
        return self.next_at

    def start(self, stop: threading.Event) -> threading.Thread:
        """Run in a daemon thread (reads only: it never holds up a stop) until ``stop`` is set."""
        thread = threading.Thread(
            target=self.run, args=(stop,), name="exist-bridge-mirror", daemon=True
        )
        thread.start()
        return thread

    def run(self, stop: threading.Event) -> None:
        """Refresh every interval until ``stop`` is set (``wake()`` after setting it)."""
        while not stop.is_set():
            try:
                wake = self.step()
            except Exception:  # a bug: logged, and tried again; the loop must not die
                log.exception("the Exist mirror failed; trying again in %.0fs", POSTPONE)
                wake = self.clock() + POSTPONE
            if stop.is_set():
                return
            self.alarm.wait(max(0.0, min(wake - self.clock(), 3600.0)))
            self.alarm.clear()

    def wake(self) -> None:
        """Wake the loop now (to stop, or because the clock jumped)."""
        self.alarm.set()

    def nudge(self) -> None:
        """Wake the loop if its turn has come (the clock jumped: a resumed machine, a test)."""
        if self.clock() >= self.next_at:
            self.alarm.set()

    # ----------------------------------------------------------------- one refresh

    def today(self) -> str:
        return datetime.fromtimestamp(self.clock(), self.zone).date().isoformat()

    def refresh(self) -> None:
        """Read Exist (one with-values request, summaries once a day) and publish it all."""
        today = self.today()
        names, groups = self._filters()
        read = self.client.attributes_with_values(
            days=DAYS, date_max=today, attributes=names, groups=groups
        )
        chosen = [a for a in read if self._wanted(a)]
        self._say_unread(self.settings.attributes, {a.name for a in chosen})
        with self._lock:
            for attribute in chosen:
                old = self.known.get(attribute.name)
                fresh = Mirrored.from_attribute(attribute)
                fresh.average = old.average if old else None
                self.known[attribute.name] = fresh
        if self.summaries_day != today:
            self._read_summaries(today, names, groups)
        self.last_refresh = self.clock()
        self.refreshes += 1
        self.publish_all(today)
        log.info("Exist mirror refreshed: %d attribute(s)", len(chosen))

    def _filters(self) -> tuple[list[str] | None, list[str] | None]:
        """The one request's filter: the names, or the groups; both or ``all``: none (the
        answer is filtered here, costing a page per 100 attributes, never a second request)."""
        s = self.settings
        if s.all or (s.attributes and s.groups):
            return None, None
        if s.attributes:
            return list(s.attributes), None
        return None, list(s.groups)

    def _say_unread(self, named: Iterable[str], read: set[str]) -> None:
        """Warn once about names in ``read.attributes`` Exist answered nothing for (a typo, or
        an attribute this token can't read or not created yet): they would just not appear."""
        unread = sorted(set(named) - read)
        if unread and unread != self._unread:
            log.warning(
                "read.attributes: Exist has no attribute %s for this token (yet): nothing to "
                "mirror until it has (a typo? the names are Exist's, e.g. mood, steps, sleep)",
                ", ".join(repr(n) for n in unread),
            )
        self._unread = unread

    def _wanted(self, attribute: Attribute) -> bool:
        if not attribute.name or not NOT_IN_A_TOPIC_LEVEL.isdisjoint(attribute.name):
            return False  # a malformed answer: no topic of its own
        s = self.settings
        return s.all or attribute.name in s.attributes or attribute.group in s.groups

    def _read_summaries(
        self, today: str, names: list[str] | None, groups: list[str] | None
    ) -> None:
        if self.settings.averages:
            found = summaries.averages(self.client, attributes=names, groups=groups)
            by_name = {a.attribute: a for a in found}
            with self._lock:
                for name, mirrored in self.known.items():
                    mirrored.average = by_name.get(name, mirrored.average)
        if self.settings.insights:
            yesterday = (date.fromisoformat(today) - timedelta(days=1)).isoformat()
            self.insights = summaries.insights(self.client, date_min=yesterday)
        filters = self.settings.correlations
        if filters is not None:
            week = summaries.correlations(
                self.client, strong="strong" in filters, confident="confident" in filters
            )
            self.correlations = sorted(week, key=lambda c: (-c.stars, -abs(c.percentage)))
        self.summaries_day = today

    # ----------------------------------------------------------------- the write side

    def confirmed(self, items: Iterable[tuple[str, str, object]]) -> None:
        """Totals Exist confirmed to the write side (attribute, date, value): mirrored at once,
        without a read. Attributes not (yet) mirrored are left to the next refresh."""
        changed = set()
        with self._lock:
            for name, day, value in items:
                mirrored = self.known.get(name)
                if mirrored is not None:
                    mirrored.values[day] = value
                    mirrored.source = "write"
                    changed.add(name)
        if changed:
            today = self.today()
            for name in sorted(changed):
                self._publish_state(self.known[name], today)

    # ----------------------------------------------------------------- publishing

    def publish_all(self, today: str) -> None:
        """Discovery (when it changed), then every state document, then the insights."""
        with self._lock:
            mirrored = sorted(self.known.values(), key=lambda m: m.name)
        self._announce(mirrored)
        for attribute in mirrored:
            self._publish_state(attribute, today)
        if self.settings.insights:
            self.publish(self.insights_topic, json.dumps(self._insights_document()))
        if self.settings.correlations is not None:
            self.publish(self.correlations_topic, json.dumps(self._correlations_document()))

    def _publish_state(self, attribute: Mirrored, today: str) -> None:
        stamp = datetime.fromtimestamp(self.clock(), timezone.utc).isoformat(timespec="seconds")
        with self._lock:
            doc = attribute.document(today, stamp)
        self.publish(self.state_topic(attribute.name), json.dumps(doc, default=str))

    def _insights_document(self) -> dict[str, Any]:
        latest = self.insights[0] if self.insights else None
        return {
            "state": latest.text[:STATE_TEXT_LIMIT] if latest else None,
            "text": latest.text if latest else None,
            "date": latest.target_date if latest else None,
            "created": latest.created if latest else None,
            "attribute": latest.attribute if latest else None,
            "type": latest.kind if latest else None,
            "insights": [
                {"text": i.text, "date": i.target_date, "attribute": i.attribute}
                for i in self.insights
            ],
        }

    def _correlations_document(self) -> dict[str, Any]:
        shown = self.correlations[:CORRELATIONS_SHOWN]
        return {
            "state": shown[0].text[:STATE_TEXT_LIMIT] if shown else None,
            "count": len(self.correlations),
            "date": shown[0].date if shown else None,
            "correlations": [
                {
                    "text": c.text,
                    "attribute": c.attribute,
                    "attribute2": c.attribute2,
                    "percentage": round(c.percentage),
                    "stars": c.stars,
                    "strength": c.strength,
                    "confidence": c.confidence,
                }
                for c in shown
            ],
        }

    def _announce(self, mirrored: list[Mirrored]) -> None:
        target = self.discovery_target
        if target is None:
            return
        messages = discovery.discovery_messages(
            target.prefix,
            target.node,
            target.version,
            target.availability_topic,
            [(m, self.state_topic(m.name)) for m in mirrored],
            self.summary_topics(),
        )
        for topic, payload in messages.items():
            if self._announced.get(topic) != payload:
                self.publish(topic, json.dumps(payload))
                self._announced[topic] = payload

    def republish(self) -> None:
        """Publish everything read so far again, discovery included (on each connection to the
        broker: a first refresh may have come before it, and a broker may lose retained
        messages)."""
        self._announced.clear()
        if self.last_refresh is not None:
            self.publish_all(self.today())

    # ----------------------------------------------------------------- status

    def status(self) -> dict[str, Any]:
        """For the status topic and ``exist-bridge status``: the last refresh, the next, and why
        reads wait (``postponed``)."""

        def iso(when: float | None) -> str | None:
            if when is None:
                return None
            return datetime.fromtimestamp(when, timezone.utc).isoformat(timespec="seconds")

        return {
            "attributes": len(self.known),
            "refreshes": self.refreshes,
            "last_refresh": iso(self.last_refresh),
            "next_refresh": iso(self.next_at) if self.next_at else None,
            "postponed": self.postponed,
            "interval": self.settings.interval,
        }

    def _save_status(self) -> None:
        if self.status_path is None:
            return
        try:
            write_json_atomic(self.status_path, {**self.status(), "at": time.time()}, mode=0o644)
        except OSError as err:
            log.debug("can't write %s: %s", self.status_path, err)
