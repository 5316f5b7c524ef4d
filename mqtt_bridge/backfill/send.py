"""From day totals to Exist: the plan, the progress file, and the budget-aware sender.

- **Idempotent.** Totals go as dated ``update``s (a day's value is set, never added to), and
  ``state_dir/backfill.json`` remembers every (attribute, date) -> value Exist confirmed, so a
  second run sends nothing, and a run after an interruption sends only what is left.
- **The live bridge's days are kept.** An (attribute, date) the bridge's outbox has a row for
  (it wrote it, or will) is left out unless ``overwrite``: the bridge's own total would otherwise
  be replaced by history (and the bridge would later replace that again).
  The outbox is asked again right before each request (a run may wait hours for the budget),
  in the transaction that records the days sent as backfilled (``pipeline.buffer.backfilled``:
  the live bridge then adds nothing to them, the history holds their events).
- **Budget-aware.** 35 totals per request; before each request the persisted request budget
  (shared with the live bridge) is asked how long to wait, and the sender sleeps that long rather
  than draw a 429 from Exist. A 429 that comes anyway (another client on the same token) is waited
  out and the request repeated.
"""

from __future__ import annotations

import json
import math
import sqlite3
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from ..exist.budget import token_key
from ..exist.domain import MAX_ITEMS_PER_REQUEST
from ..exist.errors import RateLimited
from ..exist.models import WriteResult
from ..pipeline.output.exist_output import ExistAdapter
from ..state_dir import BACKFILL_FILE, OUTBOX_FILE


class Progress:
    """``backfill.json`` in ``folder`` (the state directory, or a named Exist account's folder
    in it: ``state_dir.account_dir``): the values Exist confirmed per (attribute, date), for one
    token (``account``: the budget's key of it); another token starts afresh."""

    def __init__(self, folder: Path, account: str = ""):
        self.path = Path(folder) / BACKFILL_FILE
        self.account = account
        self.sent: dict[str, Any] = {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            same = isinstance(data, dict) and data.get("account", "") == account
            if same and isinstance(data.get("sent"), dict):
                self.sent = data["sent"]
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as err:
            raise OSError(f"cannot read the backfill progress file {self.path}: {err}") from None

    @staticmethod
    def key(attribute: str, day: str) -> str:
        return f"{attribute} {day}"

    def done(self, attribute: str, day: str, value: object) -> bool:
        """Whether Exist already confirmed ``value`` for this (attribute, date)."""
        return self.sent.get(self.key(attribute, day), _NOTHING) == value

    def record(self, items: list[dict]) -> None:
        """Remember confirmed items, atomically (a kill leaves the old or the new file)."""
        for item in items:
            self.sent[self.key(item["name"], item["date"])] = item["value"]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        data = {"version": 1, "account": self.account, "sent": self.sent}
        tmp.write_text(json.dumps(data), encoding="utf-8")
        tmp.replace(self.path)


_NOTHING = object()


def written_by_bridge(
    state_dir: Path, account: str = "", first: bool = True
) -> set[tuple[str, str]]:
    """The (attribute, date) rows of ``account`` in the live bridge's outbox, read-only (the
    bridge may be running); empty when there is no outbox. The ``first`` account's include the
    single account's (``''``), which it takes over at the bridge's next start, and every row of
    an outbox written before totals were kept per account."""
    path = Path(state_dir) / OUTBOX_FILE
    if not path.exists():
        return set()
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            columns = {row[1] for row in db.execute("PRAGMA table_info(totals)")}
            if "account" not in columns:  # every row is the single account's
                rows = db.execute("SELECT attribute, date FROM totals") if first else []
                return {(a, d) for a, d in rows}
            accounts = {account, ""} if first else {account}
            sql = "SELECT account, attribute, date FROM totals"
            return {(a, d) for who, a, d in db.execute(sql) if who in accounts}
        finally:
            db.close()
    except sqlite3.Error as err:
        raise OSError(f"cannot read the bridge's outbox {path}: {err}") from None


@dataclass
class Plan:
    """What a run will send."""

    items: list[dict] = field(default_factory=list)  # {"name", "date", "value"}, date order
    live: list[tuple[str, str]] = field(default_factory=list)  # left to the live bridge
    done: int = 0  # already confirmed by an earlier run
    unknown: dict[str, int] = field(default_factory=dict)  # attribute -> days: not sent

    @property
    def requests(self) -> int:
        return math.ceil(len(self.items) / MAX_ITEMS_PER_REQUEST)

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per attribute: days, first and last date, and the sum of numeric totals."""
        out: dict[str, dict[str, Any]] = {}
        for item in self.items:
            a = out.setdefault(item["name"], {"days": 0, "first": item["date"], "total": 0})
            a["days"] += 1
            a["first"] = min(a["first"], item["date"])
            a["last"] = max(a.get("last", item["date"]), item["date"])
            if isinstance(item["value"], (int, float)):
                a["total"] = round(a["total"] + item["value"], 6)
        return out


def make_plan(
    values: Mapping[tuple[str, str], object],
    progress: Progress,
    live: set[tuple[str, str]],
    overwrite: bool = False,
    known: Callable[[str], bool] | None = None,
) -> Plan:
    """The items to send: every total not confirmed yet, without the live bridge's days, and
    without attributes ``known`` says are neither configured nor owned (counted per attribute
    in ``unknown``: Exist would refuse them on every run)."""
    plan = Plan()
    for (attribute, day), value in sorted(values.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        if known is not None and not known(attribute):
            plan.unknown[attribute] = plan.unknown.get(attribute, 0) + 1
        elif (attribute, day) in live and not overwrite:
            plan.live.append((attribute, day))
        elif progress.done(attribute, day, value):
            plan.done += 1
        else:
            plan.items.append({"name": attribute, "date": day, "value": value})
    return plan


def budget_eta(requests: int, remaining: int, allowed: int, window: float = 3600.0) -> float:
    """Seconds until ``requests`` are sent with ``remaining`` of ``allowed`` left in this window:
    0 when they fit; else about one window per further ``allowed`` requests."""
    if requests <= remaining:
        return 0.0
    return math.ceil((requests - remaining) / max(1, allowed)) * window


def duration_text(seconds: float) -> str:
    """``1 h 5 min``, ``3 min``, ``now``."""
    if seconds <= 0:
        return "now"
    minutes = math.ceil(seconds / 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


class Bar:
    """A plain-text progress bar on stderr: redrawn in place on a terminal; otherwise (logs,
    pipes) a line only every ``step`` of the total, every ``every`` seconds, for a new note, and
    at the end: a few dozen lines for any run, not one per request."""

    def __init__(
        self,
        total: int,
        stream: TextIO | None = None,
        width: int = 30,
        *,
        step: float = 0.1,
        every: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.total = max(1, total)
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.step, self.every, self.clock = step, every, clock
        self._printed: tuple[int, str, float] | None = None  # (done, note, when) of the last line

    def show(self, done: int, note: str = "") -> None:
        """Show ``done`` of the requests (and a note: waiting for the budget...)."""
        now = self.clock()
        if not self.tty and self._printed is not None:
            last, last_note, when = self._printed
            steps = math.floor(done / self.total / self.step + 1e-9)
            new_step = steps > math.floor(last / self.total / self.step + 1e-9)
            due = done != last and now - when >= self.every
            if not (new_step or due or (note and note != last_note) or done >= self.total > last):
                return
        self._printed = (done, note, now)
        filled = round(self.width * done / self.total)
        bar = "#" * filled + "." * (self.width - filled)
        line = f"backfill [{bar}] {done}/{self.total} requests"
        line += f"  {note}" if note else ""
        self.stream.write(("\r" + line.ljust(79)) if self.tty else line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


@dataclass
class SendReport:
    sent: int = 0  # totals Exist confirmed
    requests: int = 0
    waited: float = 0.0  # seconds slept for the budget (or a 429)
    failed: list[dict] = field(default_factory=list)  # items Exist refused, with its reason
    live: list[tuple[str, str]] = field(default_factory=list)  # the bridge wrote them meanwhile


def send(
    plan: Plan,
    exist: ExistAdapter,
    progress: Progress,
    *,
    sleep: Callable[[float], None],
    bar: Bar | None = None,
    claim: Callable[[list[tuple[str, str]]], set[tuple[str, str]]] | None = None,
) -> SendReport:
    """Send the plan's items, ``MAX_ITEMS_PER_REQUEST`` per ``update``, waiting for the budget
    before each request; confirmed items are recorded in ``progress`` as they are confirmed.

    ``claim`` (the outbox's ``claim_backfill``) is asked right before each request, as the
    plan may be hours old by then: the (attribute, date)s the live bridge has written meanwhile
    are left out (``report.live``), the others recorded as backfilled."""
    report = SendReport()
    chunks = [
        plan.items[i : i + MAX_ITEMS_PER_REQUEST]
        for i in range(0, len(plan.items), MAX_ITEMS_PER_REQUEST)
    ]
    if bar:
        bar.show(0)
    for n, chunk in enumerate(chunks, start=1):
        shown = _Shown(bar, n - 1)
        result, sent = _send_chunk(chunk, exist, sleep, shown, claim, report)
        if result is not None:  # (None: the live bridge wrote every day of it meanwhile)
            report.requests += result.requests
            confirmed = {(o.get("name"), o.get("date")) for o in result.success}
            ok = [i for i in sent if (i["name"], i["date"]) in confirmed]
            progress.record(ok)
            report.sent += len(ok)
            report.failed.extend(result.failed)
        if bar:
            bar.show(n)
    if bar:
        bar.close()
    return report


@dataclass
class _Shown:
    """The progress bar at ``done`` requests, saying why it waits."""

    bar: Bar | None
    done: int

    def waiting(self, why: str) -> None:
        if self.bar:
            self.bar.show(self.done, why)


def _send_chunk(
    chunk: list[dict[str, Any]],
    exist: ExistAdapter,
    sleep: Callable[[float], None],
    shown: _Shown,
    claim: Callable[[list[tuple[str, str]]], set[tuple[str, str]]] | None,
    report: SendReport,
) -> tuple[WriteResult | None, list[dict[str, Any]]]:
    """One ``update`` of ``chunk`` once the budget allows (a 429 waited out and tried again),
    without the days the live bridge has written by then; (its result, the items sent), the
    result None when none was left to send."""
    budget = exist.client.budget
    while True:
        wait = budget.wait_time(token_key(exist.client.credentials.access_token()))
        if wait > 0:
            shown.waiting(f"waiting {duration_text(wait)} for the request budget")
            sleep(wait)
            report.waited += wait
            continue
        if claim is not None:
            live = claim([(i["name"], i["date"]) for i in chunk])
            report.live.extend(k for k in live if k not in report.live)
            chunk = [i for i in chunk if (i["name"], i["date"]) not in live]
            if not chunk:
                return None, chunk
        try:
            return exist.update(chunk), chunk
        except RateLimited as err:  # a 429 despite the budget: wait it out, then again
            shown.waiting(f"rate-limited, waiting {err.retry_after:.0f}s")
            sleep(max(1.0, err.retry_after))
            report.waited += max(1.0, err.retry_after)
