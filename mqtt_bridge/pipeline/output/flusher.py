"""The flusher: at the earliest deadline of what is pending, send *everything* the outbox owes
Exist in as few requests as possible, and record what landed.

When it runs (Exist's best practices: batch writes, don't call every minute of every hour):
- each pending change has a deadline (``bridge.event_delay`` for events, ``bridge.total_delay``
  for totals and readings, or the mapping's ``max_delay``), set when it first becomes pending;
  a day's totals are due at that day's local midnight at the latest;
- the loop sleeps until the earliest deadline (or the next local midnight, when yesterday's
  final totals are sent once more), then sends all that is pending: changes not yet due ride
  along for free. Nothing pending: no request. The ingest writer wakes it (``notify``) only when
  a commit brings the earliest deadline forward;
- a postponement (rate limit, budget, outage) holds every send until it ends.

One flush is at most two kinds of request, each in batches of 35 by the client:
1. ``increment`` with value 0 for rows whose day total before the bridge (``base``) is unknown;
   ``current`` in the answer is that base. Idempotent, so an unknown outcome is simply retried.
2. ``update`` with ``base + delta`` (or the device's total) for every changed row. Idempotent too.

So after a crash, a timeout or a 5xx the same totals are sent again, and nothing is counted twice.
Per-item refusals are classified: ``validation``/``not_allowed``/``missing_field``/``not_found``
park the row (shown by ``exist-bridge status``; retried only when the row changes: a mistyped
attribute must not cost a request per flush for ever), ``unauthorised`` leaves it pending (the
client re-acquires, and re-creates a configured attribute Exist lost; a later flush retries).
Whole-request failures (rate limit, budget, server down) postpone the next flush; nothing is
dropped.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as day_time
from enum import Enum
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from ...backoff import REFUSED_FOR_NOW, STATE_DIRECTORY_PAUSE, UNEXPECTED_PAUSE
from ...exist.client import INVALID_ANSWER, value_problem
from ...exist.errors import ServerError
from ..buffer.outbox import Outbox, OutboxError, Pending

log = logging.getLogger("exist_bridge.flusher")

RETRY_DUE = REFUSED_FOR_NOW  # seconds before rows refused for now are retried (by default)

PERMANENT_CODES = frozenset({"validation", "not_allowed", "missing_field", "not_found"})
# What to do about a parked row, by Exist's error code.
FIXES = {
    "not_found": "no such attribute for this user: check its name (`exist-bridge check`)",
    "not_allowed": "the token lacks this group's write scope",
}


Item = dict[str, Any]  # one object of a write (name, date, value), or of Exist's answer


class WriteOutcome(Protocol):
    """What a write answers (``exist.models.WriteResult``): the items Exist echoed in
    ``success`` (an increment's with ``current``) and ``failed`` (with ``error_code`` and
    ``error``); the client's also says how many HTTP ``requests`` it took."""

    @property
    def success(self) -> list[Item]: ...

    @property
    def failed(self) -> list[Item]: ...


class ExistWriter(Protocol):
    """What the flusher needs of Exist: the two writes."""

    def increment(self, items: list[Item]) -> WriteOutcome: ...

    def update(self, items: list[Item]) -> WriteOutcome: ...


class PostponeKind(Enum):
    """What a postponed flush waits for (``Postpone.kind``)."""

    RATE_LIMITED = "rate limited"  # Exist's 429, or our own request budget spent
    UNAVAILABLE = "Exist unavailable"  # an outage: no answer, 5xx, answers failing the checks
    AUTHENTICATION = "authentication"  # Exist refused the token or its scopes
    REFUSED = "refused"  # Exist refused a whole request (a 4xx that would fail again)
    STATE_DIRECTORY = "state directory"  # the outbox can't be used: disk full, read-only
    UNEXPECTED = "unexpected"  # a bug: logged with its traceback, and retried


@dataclass(frozen=True)
class Postpone:
    """A whole flush could not be done: try again after ``seconds``; ``reason`` says why in
    words (the log, ``status``), ``kind`` as a value the code can test."""

    seconds: float
    reason: str
    kind: PostponeKind = PostponeKind.UNAVAILABLE


# Turns an exception from the writer into a ``Postpone`` (or re-raises what is a bug).
Classifier = Callable[[Exception], Postpone]


@dataclass
class FlushReport:
    bases_learned: int = 0
    sent: int = 0
    parked: int = 0
    left_pending: int = 0
    requests: int = 0
    postponed: Postpone | None = None
    invalid_answers: int = 0  # items whose answer failed the checks (left pending)
    refused_for_now: int = 0  # items refused but not for good (unauthorised, ...): retried
    errors: list[str] = field(default_factory=list)
    sent_items: list[tuple[str, str, object]] = field(default_factory=list)  # (attr, date, total)

    def sent_text(self, limit: int = 10) -> str:
        """What was sent: ``coffees 2026-11-29 = 7, steps 2026-11-29 = 4321`` (and N more)."""
        shown = [f"{a} {d} = {t}" for a, d, t in self.sent_items[:limit]]
        more = len(self.sent_items) - limit
        return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


POSTPONED_META = "flush_postponed"  # the outbox's meta key: why sending waits (for `status`)


def _key(item: Item) -> tuple[str, str]:
    return (str(item.get("name")), str(item.get("date")))


class Flusher:
    def __init__(
        self,
        outbox: Outbox,
        writer: ExistWriter,
        timezone: str,
        classify: Classifier,
        on_flush: Callable[[FlushReport], None] | None = None,
        clock: Callable[[], float] = time.time,
        alarm: threading.Event | None = None,
        retry: float = RETRY_DUE,
        longest: float | None = None,
    ):
        self.outbox = outbox
        self.clock = clock  # the same clock that dates received messages and sets deadlines
        self.writer = writer
        self.zone = ZoneInfo(timezone)
        self.classify = classify
        self.retry = retry
        self.longest = longest  # the longest delay configured: caps stored deadlines at start
        self.on_flush = on_flush
        # What the loop sleeps on (``wait(timeout)``): set by ``notify`` and ``wake``.
        self.alarm = alarm if alarm is not None else threading.Event()
        self.hold_until = 0.0  # no send before this (a postponement)
        self.planned = float("inf")  # when the sleeping loop wakes next
        self.planning = True  # the loop is not asleep (yet): a notify must wake it
        self._warned: set[tuple[str, str]] = set()
        self._postponed_note: str | None = None  # what POSTPONED_META holds (None: unknown)
        self._state_error: str | None = None  # the state database's error, logged once
        self._lock = threading.Lock()

    def today(self) -> str:
        return datetime.fromtimestamp(self.clock(), self.zone).date().isoformat()

    def day_end(self, day: str) -> float:
        """The instant local ``day`` ends (the next day's local midnight)."""
        nxt = date.fromisoformat(day) + timedelta(days=1)
        return datetime.combine(nxt, day_time(0), self.zone).timestamp()

    # ----------------------------------------------------------------- when

    def next_due(self, outbox: Outbox | None = None) -> float:
        """The earliest deadline of what is pending (a day's rows are due when it ends);
        ``inf`` when nothing is pending. ``outbox``: another thread's connection to it."""
        due = float("inf")
        for day, earliest in (outbox or self.outbox).deadlines().items():
            due = min(due, earliest, self.day_end(day))
        return due

    def next_wake(self) -> float:
        """When the loop must run next: the earliest deadline or the next local midnight (the
        day's final totals), not before a postponement ends."""
        return max(self.hold_until, min(self.next_due(), self.day_end(self.today())))

    def step(self) -> float:
        """Flush if something is due (or the local date changed since the last flush); return
        the clock time of the next wake-up."""
        now = self.clock()
        last = self.outbox.get_meta(
            self.outbox.account_meta("last_day")
        )  # the local date of the last flush
        if now >= self.hold_until and (
            self.next_due() <= now or (last is not None and last < self.today())
        ):
            report = self.flush_once()
            now = self.clock()
            if report.postponed:
                self.hold_until = now + report.postponed.seconds
            elif report.refused_for_now:  # unauthorised, not_found ...: not in a loop
                self.hold_until = now + self.retry
        return self.next_wake()

    def notify(self, due: float | None) -> None:
        """A commit set a deadline ``due``: wake the loop if that is before its planned wake-up
        (called by the ingest writer after each commit; cheap when nothing changes)."""
        if due is not None and (self.planning or due < self.planned or self.overdue()):
            self.alarm.set()

    def overdue(self) -> bool:
        """The loop sleeps past its planned wake-up: the clock jumped (a suspended machine
        resumed, a test moved it), and the sleep's real seconds lag behind."""
        return not self.planning and self.planned <= self.clock()

    def nudge(self) -> None:
        """Wake the loop if it is overdue. The service's heartbeat calls this every half second:
        it reads only the clock, so a sleeping bridge costs no extra wake-up of the loop."""
        if self.overdue():
            self.alarm.set()

    def wake(self) -> None:
        """Wake the loop now (to stop, or to re-plan)."""
        self.alarm.set()

    # ----------------------------------------------------------------- one flush

    def flush_once(self) -> FlushReport:
        """Learn missing bases, then send every changed total. Never raises for Exist's errors."""
        with self._lock:
            report = FlushReport()
            try:
                self._midnight()
                self.outbox.claim()  # changes from now on set their own deadlines
                self._learn_bases(report)
                self._send_totals(report)
                if report.invalid_answers:  # the other rows went; back off from a sick server
                    raise ServerError(
                        f"{report.invalid_answers} answer(s) from Exist failed the checks "
                        f"({report.errors[-1]}); those rows stay pending"
                    )
            except Exception as err:  # noqa: BLE001 - the classifier decides what is expected
                report.postponed = self._postpone(err)
                if report.postponed.kind is not PostponeKind.STATE_DIRECTORY:  # logged once
                    log.warning(
                        "%sflush postponed %.0fs: %s",
                        f"account {self.outbox.account}: " if self.outbox.account else "",
                        report.postponed.seconds,
                        report.postponed.reason,
                    )
            try:
                self.outbox.unclaim(self.clock())  # what could not go stays due
                report.left_pending = len(self.outbox.pending())
                self._note_postponed(report)
                if self.on_flush:
                    self.on_flush(report)
            except (OutboxError, OSError) as err:
                self._state_failed(err)
            except Exception:  # status only; the next flush tries again
                log.exception("could not report the flush")
            else:
                state_failed = (
                    report.postponed is not None
                    and report.postponed.kind is PostponeKind.STATE_DIRECTORY
                )
                if self._state_error is not None and not state_failed:
                    log.warning("the state database can be used again; sending resumed")
                    self._state_error = None
            return report

    def _note_postponed(self, report: FlushReport) -> None:
        """Keep why sending waits in the outbox (``status`` shows it); written only when it
        changes, so a healthy bridge doesn't write at every flush."""
        p = report.postponed
        note = (
            ""
            if p is None
            else json.dumps({"reason": p.reason, "at": self.clock(), "seconds": p.seconds})
        )
        if note != self._postponed_note:  # (None at start: clear what a last run left)
            self.outbox.set_meta(self.outbox.account_meta(POSTPONED_META), note)
            self._postponed_note = note

    def _state_failed(self, err: Exception) -> None:
        """Log a state-database error once (not at every flush while it lasts): the first
        error after a good flush; later ones, while it lasts, only at debug level."""
        if self._state_error is not None:
            log.debug("the state database still can't be used: %s", err)
        else:
            log.error(
                "%s — sending paused until it can be used (`exist-bridge status` explains; "
                "no message is acknowledged that was not stored)",
                err,
            )
            self._state_error = str(err)

    def _postpone(self, err: Exception) -> Postpone:
        """Exist's errors via the classifier; the state directory's own errors (disk full,
        read-only) pause sending; anything else is logged with its traceback and retried: the
        flusher must never die, or totals would wait for ever."""
        if isinstance(err, (OutboxError, OSError)):
            self._state_failed(err)
            return Postpone(
                STATE_DIRECTORY_PAUSE, f"state directory: {err}", PostponeKind.STATE_DIRECTORY
            )
        try:
            return self.classify(err)
        except Exception:
            log.exception("unexpected error during a flush; retrying")
            return Postpone(
                UNEXPECTED_PAUSE,
                f"unexpected {type(err).__name__}: {err}",
                PostponeKind.UNEXPECTED,
            )

    def _midnight(self) -> None:
        """After the local date changes, send the previous day's final totals once more (the docs
        advise re-syncing yesterday's values)."""
        today = self.today()
        last = self.outbox.get_meta(self.outbox.account_meta("last_day"))
        if last and last < today:
            n = self.outbox.resend(last)
            if n:
                log.info("new day %s: re-sending %d final total(s) of %s", today, n, last)
        if last != today:
            self.outbox.set_meta(self.outbox.account_meta("last_day"), today)

    def _learn_bases(self, report: FlushReport) -> None:
        rows = [p for p in self.outbox.pending() if p.mode == "increment" and not p.base_known]
        if not rows:
            return
        by_key = {(p.attribute, p.date): p for p in rows}
        result = self._write(
            self.writer.increment,
            [{"name": p.attribute, "date": p.date, "value": 0} for p in rows],
            report,
        )
        for item in result.success:
            if _key(item) in by_key and "current" in item:
                problem = value_problem(item["current"])
                if problem:  # the client checks this too; never store what can't be believed
                    self._refused(
                        by_key[_key(item)],
                        {**item, "error_code": INVALID_ANSWER, "error": f"current {problem}"},
                        report,
                    )
                    continue
                self.outbox.set_base(item["name"], item["date"], item["current"])
                report.bases_learned += 1
        for item in result.failed:
            row = by_key.get(_key(item))
            if row is not None:
                self._refused(row, item, report)

    def _send_totals(self, report: FlushReport) -> None:
        rows = [p for p in self.outbox.pending() if p.total is not None]
        if not rows:
            return
        by_key = {(p.attribute, p.date): p for p in rows}
        result = self._write(
            self.writer.update,
            [{"name": p.attribute, "date": p.date, "value": p.total} for p in rows],
            report,
        )
        for item in result.success:
            row = by_key.get(_key(item))
            if row is not None:
                self.outbox.mark_sent(row.attribute, row.date, row.version, row.total)
                report.sent += 1
                report.sent_items.append((row.attribute, row.date, row.total))
        for item in result.failed:
            row = by_key.get(_key(item))
            if row is not None:
                self._refused(row, item, report)

    @staticmethod
    def _write(
        send: Callable[[list[Item]], WriteOutcome], items: list[Item], report: FlushReport
    ) -> WriteOutcome:
        """``send(items)``, counting the requests the client reports it made (``requests`` of
        the result, or of the part done before an exception: ``completed``)."""
        try:
            result = send(items)
        except Exception as err:
            report.requests += int(getattr(getattr(err, "completed", None), "requests", 0) or 0)
            raise
        report.requests += int(getattr(result, "requests", 0) or 0)  # (not every writer counts)
        return result

    def _refused(self, row: Pending, item: Item, report: FlushReport) -> None:
        code = str(item.get("error_code", "unknown"))
        error = str(item.get("error", ""))
        report.errors.append(f"{row.attribute} {row.date}: {code}: {error}")
        if code == INVALID_ANSWER:
            report.invalid_answers += 1
        if code in PERMANENT_CODES:
            self.outbox.mark_failed(row.attribute, row.date, row.version, code, error)
            report.parked += 1
            log.error(
                "Exist refused %s on %s (%s: %s)%s; kept aside, see `exist-bridge status`",
                row.attribute,
                row.date,
                code,
                error,
                f" - {FIXES[code]}" if code in FIXES else "",
            )
            return
        report.refused_for_now += 1
        if (row.attribute, code) not in self._warned:
            self._warned.add((row.attribute, code))
            log.warning("Exist answered %s for %s (%s); will retry", code, row.attribute, error)

    # ----------------------------------------------------------------- the loop

    def run(self, stop: threading.Event) -> None:
        """Flush by deadline until ``stop`` is set (``wake()`` after setting it), honouring
        postponements. What an earlier run left pending is due at its stored deadline (at once
        for rows without one). A state database that can't be read pauses it (30 s, then again).
        """
        if self.longest is not None:
            try:
                self.outbox.cap_deadlines(self.clock() + self.longest)
            except OutboxError as err:
                self._state_failed(err)
        while not stop.is_set():
            self.planning = True  # a notify meanwhile always wakes the coming wait
            try:
                self.planned = self.step()
            except OutboxError as err:
                self._state_failed(err)
                self.planned = self.clock() + STATE_DIRECTORY_PAUSE
            self.planning = False
            if stop.is_set():
                return
            self.alarm.wait(max(0.0, min(self.planned - self.clock(), 86400.0)))
            self.planning = True
            self.alarm.clear()
