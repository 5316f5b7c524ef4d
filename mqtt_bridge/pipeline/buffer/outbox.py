"""The durable outbox: what the bridge owes Exist, in SQLite, committed before a message is acked.

Design (why nothing is lost or counted twice):

- Increments are not idempotent, so the bridge never sends its events as increments. For each
  (attribute, local date) it keeps a row with the sum of its own events (``delta``) and Exist's
  value before the bridge's first contribution (``base``), and sends ``base + delta`` with
  ``update``, which is idempotent: sending the same total twice is harmless, so a write whose
  outcome is unknown (timeout, 5xx, the process killed mid-request) is simply sent again.
- ``base`` is learned once per row with an ``increment`` of 0 (also idempotent, and it needs only
  the write scope), whose answer carries ``current``.
- Update-mode rows (a device's daily total) just keep the last value.
- Each row has a ``version`` bumped by every change and a ``sent_version`` recorded after Exist
  confirmed a write of that version, so a row changed while a write was in flight is sent again.
- A message is acknowledged to the broker only after the transaction holding its effect committed.
  A message committed but not yet acked when the process died is redelivered by the broker with
  the DUP flag and its original packet id; ``recent`` keeps the last ``RECENT_SLOTS`` committed
  (packet id, topic, payload digest) so such a redelivery is recognised and only acked.
- Losing this file silently would lose both, so a marker file beside it (``MARKER_FILE``) records
  that the state directory has an outbox; ``inspect_outbox`` (run before every start and by
  ``status``) reports a missing, truncated or damaged outbox instead of starting afresh.
- Per-topic edge state is bounded: at most ``MAX_TOPIC_STATES`` rows (the least recently seen
  are dropped first) and none older than ``STATE_MAX_AGE`` since its topic was last seen.
"""

from __future__ import annotations

import functools
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from . import backfilled, deadlines, schema
from .adopt import merge_unsent
from .rules import (
    DELIVERED,
    KEEP_EARLIEST_DUE,
    PENDING,
    REFUSED,
    STATE,
    OutboxError,  # noqa: F401 - the outbox's error, raised by its methods
    failed,
    meta_key,
    of_account,
)
from .sql import MAX_VARIABLES, insert_rows

_log = logging.getLogger("exist_bridge.outbox")

RECENT_SLOTS = 4096  # far above any broker's in-flight window, far below the 65535 packet ids
DEAD_LETTER_CAP = 10_000
MAX_TOPIC_STATES = 10_000  # per-topic states kept (edge/counter/duration); least recent dropped
STATE_MAX_AGE = 30 * 86400.0  # a topic not seen for this long loses its state (at start-up)


INSERT_TOTALS = (
    "INSERT INTO totals "
    "(account, attribute, date, mode, delta, value, version, events, updated_at, due_at)"
)


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _reads(method: Callable[Concatenate[Outbox, _P], _R]) -> Callable[Concatenate[Outbox, _P], _R]:
    """A read of the database: SQLite errors become ``OutboxError`` (one clear line)."""

    @functools.wraps(method)
    def wrapper(self: Outbox, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as err:
            raise failed("read", self.path, err) from err

    return wrapper


@dataclass(slots=True)
class Effect:
    """One change a message makes: add ``value`` (increment) or set the total (update). Built
    per event, so slotted rather than frozen (ten times cheaper to build); never changed."""

    attribute: str
    date: str
    mode: str
    value: int | float | str
    due: float = 0.0  # when this change must be sent at the latest (clock seconds; 0: now)
    account: str = ""  # the Exist account it is for ('': a single-account bridge)


@dataclass(slots=True)
class Commit:
    """Everything one MQTT message changes, written in one transaction with others."""

    mid: int = 0  # 0 for QoS 0 (nothing to ack or recognise)
    topic: str = ""
    digest: bytes = b""
    effects: list[Effect] = field(default_factory=list)
    states: dict[str, object] = field(default_factory=dict)  # edge state by key
    dropped: list[str] = field(default_factory=list)  # edge states to forget (pruned)
    dead: list[tuple[str, str, bytes]] = field(default_factory=list)  # (kind, detail, payload)
    counters: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Pending:
    """A row that Exist does not have yet, as read for one flush."""

    attribute: str
    date: str
    mode: str
    version: int
    base_known: bool
    total: object  # what to send with update (None while an increment row's base is unknown)
    events: int


def _json(value: object) -> str:
    return json.dumps(value)


def _unjson(text: str | None) -> object:
    return None if text is None else json.loads(text)


def _stored(value: object) -> object:
    """``value`` as a NUMERIC column gives it back: a whole float within 64 bits is an integer."""
    if isinstance(value, float) and value.is_integer() and -(2**63) <= value < 2**63:
        return int(value)
    return value


def _add(a: object, b: object) -> object:
    """Add two amounts keeping integers integers (Exist refuses 9.0 for integer types), and
    decimal sums free of float noise (0.1 + 0.2 is 0.3, not 0.30000000000000004)."""
    total = (a or 0) + (b or 0)  # type: ignore[operator]
    return round(total, 9) if isinstance(total, float) else total


class Outbox:
    """One SQLite database in the state directory; open one ``Outbox`` per thread."""

    def __init__(self, path: str | Path, readonly: bool = False, account: str | None = None):
        """``readonly`` (``status``): never writes, so never checkpoints or deletes the log.
        ``account``: the flush side (``pending``, ``set_base``, ``mark_sent``, deadlines,
        ``resend``, ``account_meta``) sees only that Exist account's rows; None: every row."""
        self.path = Path(path)
        self.account = account
        self.claim_also: tuple[str, ...] = ()  # accounts whose rows a backfill leaves alone too
        self.last_due: float | None = None  # the earliest deadline the last commit proposed
        self._lock = threading.Lock()
        try:
            if not readonly:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            target = f"{self.path.resolve().as_uri()}?mode=ro" if readonly else str(self.path)
            self.db = sqlite3.connect(
                target, timeout=30, isolation_level=None, check_same_thread=False, uri=readonly
            )
            if not readonly:
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=FULL")
                schema.prepare(self.db, self.path)
            else:
                schema.readable(self.db)
        except (sqlite3.Error, OSError) as err:
            raise failed("use", self.path, err) from err
        self._slot = self._last_slot()

    def close(self) -> None:
        self.db.close()

    # ----------------------------------------------------------------- plumbing

    def _mine(self) -> tuple[str, tuple[str, ...]]:
        """The SQL condition keeping this outbox's account's rows (``rules.of_account``)."""
        return of_account(self.account)

    def account_meta(self, key: str) -> str:
        """``key`` of ``meta`` for this outbox's account (``rules.meta_key``)."""
        return meta_key(key, self.account)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``; any SQLite/OS error becomes ``OutboxError``."""
        with self._lock:
            try:
                self.db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as err:
                raise failed("write", self.path, err) from err
            try:
                yield self.db
                self.db.execute("COMMIT")
            except BaseException as err:
                with suppress(sqlite3.Error):
                    self.db.execute("ROLLBACK")
                if isinstance(err, (sqlite3.Error, OSError)):
                    raise failed("write", self.path, err) from err
                raise

    def _last_slot(self) -> int:
        row = self.db.execute("SELECT value FROM meta WHERE key='recent_slot'").fetchone()
        return int(row[0]) if row else 0

    # ----------------------------------------------------------------- ingest side

    def commit(self, batch: Iterable[Commit]) -> None:
        """Write the effects of several messages in one transaction (group commit).

        Effects, edge states, counters and recent ids are gathered over the batch and written
        with a few multi-row statements, whatever the batch size: the same end state as message
        by message (effects in order, the last state wins, counters add up, slots in order).
        Few statements matter beyond their own cost: each one lets go of the GIL and has to take
        it back from the busy network thread."""
        now = time.time()
        states: dict[str, object] = {}
        dropped: dict[str, None] = {}
        counters: dict[str, int] = {}
        recent: list[tuple[int, int, str, bytes]] = []
        effects: list[Effect] = []
        dead: list[tuple[float, str, str, str, bytes]] = []
        for c in batch:
            effects.extend(c.effects)
            for key in c.dropped:
                states.pop(key, None)
                dropped[key] = None
            for key, state in c.states.items():
                dropped.pop(key, None)
                states[key] = state
            for kind, detail, payload in c.dead:
                dead.append((now, kind, c.topic, detail, payload[:4096]))
            for name, n in c.counters.items():
                counters[name] = counters.get(name, 0) + n
            if c.mid:
                self._slot = (self._slot + 1) % RECENT_SLOTS
                recent.append((self._slot, c.mid, c.topic, c.digest))
        with self.transaction() as db:
            effects, skipped = backfilled.without_backfilled(db, effects)
            if skipped:
                counters[backfilled.COUNTER] = counters.get(backfilled.COUNTER, 0) + len(skipped)
            self._apply(db, effects, now)
            insert_rows(
                db,
                "INSERT OR REPLACE INTO edge_state (key, state, seen)",
                [(key, _json(state), now) for key, state in states.items()],
            )
            keys = list(dropped)
            for i in range(0, len(keys), MAX_VARIABLES):
                chunk = keys[i : i + MAX_VARIABLES]
                db.execute(
                    f"DELETE FROM edge_state WHERE key IN ({','.join('?' * len(chunk))})", chunk
                )
            insert_rows(db, "INSERT INTO dead_letters (at, kind, topic, detail, payload)", dead)
            insert_rows(
                db,
                "INSERT INTO counters",
                list(counters.items()),
                " ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
            )
            insert_rows(db, "INSERT OR REPLACE INTO recent", recent)
            db.execute("INSERT OR REPLACE INTO meta VALUES ('recent_slot', ?)", (str(self._slot),))
            if dead:
                db.execute(
                    "DELETE FROM dead_letters WHERE id <= (SELECT MAX(id) FROM dead_letters) - ?",
                    (DEAD_LETTER_CAP,),
                )
        if skipped:
            _log.warning(
                "not added: %d event(s) on day(s) the backfill wrote (%s): the history sent for "
                "that day already holds them (counted as %s in `exist-bridge status`)",
                len(skipped),
                ", ".join(sorted({f"{e.attribute} {e.date}" for e in skipped})[:5]),
                backfilled.COUNTER,
            )

    def claim_backfill(self, keys: Iterable[tuple[str, str]], overwrite: bool = False) -> set:
        """For the backfill, just before it sends ``keys`` (attribute, date) to this outbox's
        account: see ``backfilled.claim`` (the rows of ``claim_also``'s accounts count too)."""
        with self.transaction() as db:
            mine = self.account or ""
            return backfilled.claim(db, keys, overwrite, time.time(), mine, self.claim_also)

    def _apply(self, db: sqlite3.Connection, effects: list[Effect], now: float) -> None:
        """Apply a batch's effects in order: one read of the rows touched, one upsert.

        The same end state as one UPDATE per effect: an increment adds to ``delta`` (``_add`` on
        the value as SQLite's NUMERIC column would have stored it), an update sets ``value``, and
        ``version``/``events`` grow by the number of effects; a new row takes its mode from its
        first effect."""
        if not effects:
            return
        found: dict[tuple[str, str, str], tuple] = {}
        attributes = list({e.attribute: None for e in effects})
        dates = list({e.date: None for e in effects})
        for i in range(0, len(attributes), MAX_VARIABLES // 2):
            names = attributes[i : i + MAX_VARIABLES // 2]
            for j in range(0, len(dates), MAX_VARIABLES // 2):
                days = dates[j : j + MAX_VARIABLES // 2]
                for account, attribute, date, mode, delta, value in db.execute(
                    "SELECT account, attribute, date, mode, delta, value FROM totals "
                    f"WHERE attribute IN ({','.join('?' * len(names))}) "
                    f"AND date IN ({','.join('?' * len(days))})",
                    (*names, *days),
                ):
                    found[(account, attribute, date)] = (mode, delta, value)
        rows: dict[tuple[str, str, str], list] = {}  # key -> [mode, delta, value, count]
        due = deadlines.earliest_due(effects)  # per key
        self.last_due = min(due.values(), default=None)
        for e in effects:
            key = (e.account, e.attribute, e.date)
            row = rows.get(key)
            if row is None:
                old = found.get(key)
                if old is None:
                    rows[key] = [
                        e.mode,
                        _stored(e.value) if e.mode == "increment" else 0,
                        _json(e.value) if e.mode == "update" else None,
                        1,
                    ]
                    continue
                row = rows[key] = [*old, 0]
            if e.mode == "increment":
                row[1] = _stored(_add(row[1], e.value))
            else:
                row[2] = _json(e.value)
            row[3] += 1
        insert_rows(
            db,
            INSERT_TOTALS,
            [
                (key[0], key[1], key[2], mode, delta, value, n, n, now, due[key])
                for key, (mode, delta, value, n) in rows.items()
            ],
            " ON CONFLICT(account, attribute, date) DO UPDATE SET delta=excluded.delta, "
            "value=excluded.value, version=version+excluded.version, "
            f"events=events+excluded.events, updated_at=excluded.updated_at, {KEEP_EARLIEST_DUE}",
        )

    @_reads
    def recent(self) -> dict[int, tuple[str, bytes]]:
        """The last committed (packet id -> (topic, digest)), oldest first."""
        rows = self.db.execute("SELECT slot, mid, topic, digest FROM recent").fetchall()
        rows.sort(key=lambda r: (r[0] - self._slot - 1) % RECENT_SLOTS)
        return {mid: (topic, bytes(digest)) for _, mid, topic, digest in rows}

    @_reads
    def edge_states(self) -> dict[str, object]:
        """Every per-topic state, least recently seen first."""
        return {
            k: _unjson(v)
            for k, v in self.db.execute("SELECT key, state FROM edge_state ORDER BY seen, key")
        }

    def adopt_rows(self, old: str, new: str) -> int:
        """Give account ``old``'s rows (totals, backfilled days) to account ``new`` (see
        ``accounts.adopt_single_account``). A total of a day ``new`` has too is added to
        ``new``'s when none of it reached Exist yet (an increment's count adds up, an update's
        later value wins; ``adopt.merge_unsent``); else it stays ``old``'s. Returns how many totals
        moved or were added."""
        found = self.db.execute(
            "SELECT 1 FROM totals WHERE account=? UNION ALL "
            "SELECT 1 FROM backfilled WHERE account=? LIMIT 1",
            (old, old),
        ).fetchone()
        if found is None:
            return 0  # nothing to do: no write
        with self.transaction() as db:
            merged = merge_unsent(db, old, new)
            moved = db.execute(
                "UPDATE OR IGNORE totals SET account=? WHERE account=?", (new, old)
            ).rowcount
            db.execute("UPDATE OR IGNORE backfilled SET account=? WHERE account=?", (new, old))
            return moved + merged

    @_reads
    def pending_by_account(self) -> dict[str, int]:
        """How many rows are pending, per account."""
        sql = f"SELECT account, COUNT(*) FROM totals WHERE {PENDING} GROUP BY account"
        return dict(self.db.execute(sql).fetchall())

    def rekey_states(
        self, renamed: dict[str, str], dropped: Iterable[str], older_than: float | None = None
    ) -> int:
        """Rename and delete per-topic states (start-up migration), and delete those whose topic
        was last seen before ``older_than`` (epoch seconds); returns how many aged out."""
        if not renamed and not dropped:
            row = self.db.execute(
                "SELECT 1 FROM edge_state WHERE seen < ? LIMIT 1",
                (older_than if older_than is not None else float("-inf"),),
            ).fetchone()
            if row is None:
                return 0  # nothing to do: no write (the disk may be full or read-only)
        with self.transaction() as db:
            for old, new in renamed.items():
                db.execute("UPDATE OR REPLACE edge_state SET key=? WHERE key=?", (new, old))
            for key in dropped:
                db.execute("DELETE FROM edge_state WHERE key=?", (key,))
            if older_than is None:
                return 0
            return db.execute("DELETE FROM edge_state WHERE seen < ?", (older_than,)).rowcount

    # ----------------------------------------------------------------- flush side

    @_reads
    def pending(self, limit: int | None = None) -> list[Pending]:
        """Rows whose current version Exist has not confirmed (and has not refused for good)."""
        mine, args = self._mine()
        sql = (
            "SELECT attribute, date, mode, version, base_known, delta, value, base, events "
            f"FROM totals WHERE {PENDING}{mine} ORDER BY date, attribute"
        )
        if limit:
            sql += f" LIMIT {int(limit)}"
        out = []
        for attr, day, mode, version, base_known, delta, value, base, events in self.db.execute(
            sql, args
        ):
            if mode == "update":
                total = _unjson(value)
            elif base_known:
                total = _add(_unjson(base), delta)
            else:
                total = None
            out.append(Pending(attr, day, mode, version, bool(base_known), total, events))
        return out

    def set_base(self, attribute: str, date: str, current: object) -> None:
        """Record Exist's value for a day before the bridge's contributions (from increment 0)."""
        mine, args = self._mine()
        with self.transaction() as db:
            db.execute(
                "UPDATE totals SET base=?, base_known=1 WHERE attribute=? AND date=? "
                f"AND base_known=0{mine}",
                (_json(current), attribute, date, *args),
            )

    def mark_sent(self, attribute: str, date: str, version: int, value: object) -> None:
        mine, args = self._mine()
        with self.transaction() as db:
            db.execute(
                "UPDATE totals SET sent_version=MAX(sent_version, ?), sent_value=?, sent_at=? "
                f"WHERE attribute=? AND date=?{mine}",
                (version, _json(value), time.time(), attribute, date, *args),
            )
            db.execute("INSERT OR REPLACE INTO meta VALUES ('last_sync', ?)", (str(time.time()),))

    def mark_failed(self, attribute: str, date: str, version: int, code: str, error: str) -> None:
        """Exist refused this version for good (validation, scope): park it, don't retry."""
        mine, args = self._mine()
        with self.transaction() as db:
            db.execute(
                "UPDATE totals SET failed_version=?, failed_code=?, failed_error=? "
                f"WHERE attribute=? AND date=?{mine}",
                (version, code, error, attribute, date, *args),
            )

    def resend(self, date: str) -> int:
        """Mark a day's delivered rows to be sent again (final totals after midnight)."""
        mine, args = self._mine()
        with self.transaction() as db:
            cur = db.execute(
                f"UPDATE totals SET sent_version=0, due_at=NULL WHERE date=? AND {DELIVERED}{mine}",
                (date, *args),
            )
            return cur.rowcount

    # ----------------------------------------------------------------- deadlines

    def cap_deadlines(self, latest: float) -> None:
        """No pending row waits past ``latest`` (see ``deadlines.cap``)."""
        with self.transaction() as db:
            deadlines.cap(db, latest, self.account)

    def claim(self) -> None:
        """Mark every pending row as being sent (see ``deadlines``)."""
        with self.transaction() as db:
            deadlines.claim(db, self.account)

    def unclaim(self, now: float) -> None:
        """After a flush: the rows it claimed but could not deliver are due ``now``."""
        with self.transaction() as db:
            deadlines.unclaim(db, now, self.account)

    @_reads
    def deadlines(self) -> dict[str, float]:
        """The earliest deadline of the pending rows, per date (0 for a row due now)."""
        return deadlines.by_day(self.db, self.account)

    # ----------------------------------------------------------------- meta and status

    @_reads
    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    @_reads
    def counters(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT name, value FROM counters"))

    @_reads
    def status(self) -> dict:
        """Queue depth, delivered rows, refused rows, dead letters by kind, counters, last sync."""
        q = self.db.execute
        by_account = self.pending_by_account()
        pending = sum(by_account.values())
        refused = q(
            "SELECT account, attribute, date, failed_code, failed_error FROM totals "
            f"WHERE {REFUSED} ORDER BY date DESC LIMIT 20"
        ).fetchall()
        dead = dict(q("SELECT kind, COUNT(*) FROM dead_letters GROUP BY kind").fetchall())
        last = q("SELECT at, kind, topic, detail FROM dead_letters ORDER BY id DESC LIMIT 10")
        last_sync = self.get_meta("last_sync")
        return {
            "pending_rows": pending,
            "pending_by_account": by_account,
            "rows": q("SELECT COUNT(*) FROM totals").fetchone()[0],
            "refused": [
                dict(zip(("account", "attribute", "date", "code", "error"), r, strict=False))
                for r in refused
            ],
            "dead_letters": dead,
            "recent_dead_letters": [
                dict(zip(("at", "kind", "topic", "detail"), r, strict=False)) for r in last
            ],
            "counters": dict(q("SELECT name, value FROM counters")),
            "last_sync": float(last_sync) if last_sync else None,
        }

    @_reads
    def refused_count(self) -> int:
        """How many (attribute, date) totals Exist refused for good (until they change)."""
        mine, args = self._mine()
        sql = f"SELECT COUNT(*) FROM totals WHERE {REFUSED}{mine}"
        return self.db.execute(sql, args).fetchone()[0]

    @_reads
    def days(self, limit: int = 100, since: str | None = None) -> list[dict]:
        """The most recent (attribute, date) rows, newest day first (with ``since``, an ISO
        date: every pending or refused row, and the sent ones dated ``since`` or later):
        ``state`` is ``pending``, ``sent`` or ``refused``, ``total`` what the bridge believes the
        day's total is, ``mode``, ``base_known`` (Exist's value before the bridge is known),
        ``events``, ``updated_at``, ``sent_value``/``sent_at`` the last write Exist confirmed,
        ``code``/``error`` a refusal."""
        mine, args = self._mine()
        where = "WHERE 1" if since is None else f"WHERE (date >= ? OR {STATE} <> 'sent')"
        rows = self.db.execute(
            f"SELECT attribute, date, mode, delta, value, base, {STATE}, sent_value, sent_at, "
            "failed_code, failed_error, base_known, events, updated_at, account "
            f"FROM totals {where}{mine} ORDER BY date DESC, account, attribute LIMIT ?",
            (*args, limit) if since is None else (since, *args, limit),
        ).fetchall()
        out = []
        for row in rows:
            attr, day, mode, delta, value, base, state, sent_value, sent_at = row[:9]
            code, error, base_known, events, updated_at, account = row[9:]
            refused = state == "refused"
            out.append(
                {
                    "account": account,
                    "attribute": attr,
                    "date": day,
                    "state": state,
                    "total": _unjson(value) if mode == "update" else _add(_unjson(base), delta),
                    "mode": mode,
                    "base_known": bool(base_known),
                    "events": events,
                    "updated_at": updated_at,
                    "sent_value": _unjson(sent_value),
                    "sent_at": sent_at,
                    "code": code if refused else None,
                    "error": error if refused else None,
                }
            )
        return out

    @_reads
    def totals(self) -> dict[tuple[str, str], object]:
        """What the bridge believes each (attribute, date) total is, for this outbox's account
        (for tests and status; an outbox of every account: several accounts' rows collide)."""
        out = {}
        mine, args = self._mine()
        sql = f"SELECT attribute, date, mode, delta, value, base FROM totals WHERE 1{mine}"
        for p in self.db.execute(sql, args):
            attr, day, mode, delta, value, base = p
            out[(attr, day)] = _unjson(value) if mode == "update" else _add(_unjson(base), delta)
        return out
