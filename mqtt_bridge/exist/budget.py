"""The request budget: at most N requests per token in any sliding hour, remembered across restarts.

exist.io allows 300 requests per hour per token and answers 429 past that. The budget keeps a
safety margin below that (by default 280 of 300) so that requests made by hand with the same token,
clock skew and the odd retry don't push the bridge into 429s.

Every request is *reserved* before it is sent: its timestamp is written to a small JSON file first
(atomically, under a file lock), so a process that restarts - or crashes right after sending - still
counts what it spent. The file holds, per token fingerprint (a hash, never the token), the
timestamps of the last hour and the end of any 429 "blocked" period Exist announced.

Timestamps are wall-clock seconds (``time.time`` by default) because they must mean the same thing
after a restart; the clock is injectable for tests.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import BudgetExhausted
from .jsonfile import locked, read_json, write_json_atomic

log = logging.getLogger("exist_bridge.budget")

EXIST_LIMIT = 300  # requests per hour per token (reference/important_values.md)
DEFAULT_MARGIN = 20
WINDOW = 3600.0
FILE_VERSION = 1
_FUTURE_SLACK = 60.0  # timestamps further in the future than this mean the clock went backwards
# Exist's limit is per hour, so a 429 asking for more than an hour (plus a margin for clock skew)
# is not believable: such a Retry-After - or such a pause read back from the file - is capped.
RETRY_AFTER_MARGIN = 300.0


def token_key(token: str) -> str:
    """A stable, non-reversible name for a token's budget (the token itself is never stored)."""
    return "sha256:" + hashlib.sha256(token.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class BudgetStatus:
    """A snapshot of one token's budget."""

    used: int  # requests in the current window
    allowed: int  # requests the budget allows per window
    wait: float  # seconds until the next request may be sent (0: now)
    blocked_until: float | None  # end of a 429 block, if one is in force
    reason: str | None = None  # why requests wait (None when one may go now)

    @property
    def remaining(self) -> int:
        return max(0, self.allowed - self.used)


class RequestBudget:
    """Sliding-window request budget, persisted in ``path`` (in memory only when ``path`` is None).

    ``limit`` is Exist's hourly limit and ``margin`` how many of those we never use, so at most
    ``limit - margin`` requests are sent per token per ``window`` seconds (or give ``allowed``,
    e.g. a configured ``requests_per_hour``, and the margin follows).
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        limit: int = EXIST_LIMIT,
        margin: int = DEFAULT_MARGIN,
        window: float = WINDOW,
        clock: Callable[[], float] = time.time,
        allowed: int | None = None,
    ):
        if allowed is not None:  # "N requests per hour" given directly
            if not 1 <= allowed <= limit:
                raise ValueError(f"allowed must be between 1 and {limit}")
            margin = limit - allowed
        if limit < 1:
            raise ValueError("limit must be at least 1")
        if not 0 <= margin < limit:
            raise ValueError("margin must be between 0 and limit - 1")
        if window <= 0:
            raise ValueError("window must be positive")
        self.path = Path(path) if path is not None else None
        self.limit = limit
        self.margin = margin
        self.window = float(window)
        self.clock = clock
        self._memory: dict[str, Any] = {"version": FILE_VERSION, "keys": {}}
        self._mutex = threading.RLock()
        self._repaired = False  # a transaction capped a stored pause: write it back

    @property
    def allowed(self) -> int:
        """Requests allowed per window (``limit - margin``)."""
        return self.limit - self.margin

    # ----------------------------------------------------------------- public API

    def reserve(self, key: str) -> None:
        """Count one request for ``key`` now, or raise ``BudgetExhausted`` (with ``retry_after``)
        without counting it if the budget is spent or a 429 block is in force."""
        with self._transaction() as data:
            now = self.clock()
            entry = self._entry(data, key, now)
            wait = self._wait(entry, now)
            if wait > 0:
                raise BudgetExhausted(
                    f"request budget spent ({len(entry['sent'])}/{self.allowed} in the last "
                    f"{self.window:.0f}s); next request possible in {wait:.0f}s",
                    wait,
                )
            entry["sent"].append(now)

    @property
    def max_block(self) -> float:
        """The longest pause a 429 can impose: one window plus ``RETRY_AFTER_MARGIN``."""
        return self.window + RETRY_AFTER_MARGIN

    def note_throttled(self, key: str, retry_after: float | None) -> float:
        """Record a 429 from Exist: no request for ``key`` until ``retry_after`` seconds from now
        (capped at ``max_block``), or - without a usable ``Retry-After`` - until the window frees
        (the oldest request counted here leaves the hour; a whole window if none is known).
        Returns the wait."""
        with self._transaction() as data:
            now = self.clock()
            entry = self._entry(data, key, now)
            if retry_after is None or not retry_after >= 0:
                sent = entry["sent"]
                wait = sent[0] + self.window - now if sent else self.window
                wait = min(max(wait, 1.0), self.window)
                reason = "rate-limited by Exist (429 without Retry-After): until the hour frees"
            elif retry_after > self.max_block:
                wait = self.max_block
                reason = (
                    f"rate-limited by Exist (429, Retry-After {retry_after:.0f}s is beyond an "
                    f"hour, capped to {wait:.0f}s)"
                )
                log.warning(
                    "Exist asked for a %.0fs pause; that is beyond its hourly window, "
                    "pausing %.0fs instead",
                    retry_after,
                    wait,
                )
            else:
                wait = float(retry_after)
                reason = f"rate-limited by Exist (429, Retry-After {retry_after:.0f}s)"
            until = now + wait
            if until >= (entry.get("blocked_until") or 0.0):
                entry["blocked_until"] = until
                entry["blocked_reason"] = reason
        log.warning("Exist rate-limited this token; pausing requests for %.0fs", wait)
        return wait

    def status(self, key: str) -> BudgetStatus:
        """How much of ``key``'s budget is used and how long until the next request may go."""
        with self._transaction(write=False) as data:
            now = self.clock()
            entry = self._entry(data, key, now)
            blocked = entry.get("blocked_until")
            wait = self._wait(entry, now)
            reason = None
            if blocked and blocked > now:
                reason = entry.get("blocked_reason") or "rate-limited by Exist (429)"
            elif wait > 0:
                reason = (
                    f"request budget spent ({len(entry['sent'])}/{self.allowed} requests in the "
                    f"last {self.window:.0f}s)"
                )
            return BudgetStatus(len(entry["sent"]), self.allowed, wait, blocked, reason)

    def latest_key(self) -> str | None:
        """The key (token) that sent the most recent request in the window, or None: for a
        reader without the token (``exist-bridge status``)."""
        with self._transaction(write=False) as data:
            now = self.clock()
            best, latest = None, float("-inf")
            for key in list(data["keys"]):
                entry = self._entry(data, key, now)
                last = max(entry["sent"] or [float("-inf")])
                if last > latest or best is None:
                    best, latest = key, last
            return best

    def wait_time(self, key: str) -> float:
        """Seconds until a request for ``key`` may be sent (0.0: now)."""
        return self.status(key).wait

    # ----------------------------------------------------------------- internals

    def _wait(self, entry: dict[str, Any], now: float) -> float:
        wait = 0.0
        blocked = entry.get("blocked_until")
        if blocked and blocked > now:
            wait = blocked - now
        sent = entry["sent"]
        if len(sent) >= self.allowed:
            # the request that must leave the window before one more fits
            oldest_needed = sent[len(sent) - self.allowed]
            wait = max(wait, oldest_needed + self.window - now)
        return max(0.0, wait)

    def _entry(self, data: dict[str, Any], key: str, now: float) -> dict[str, Any]:
        entry: dict[str, Any] = data["keys"].setdefault(key, {"sent": [], "blocked_until": None})
        horizon = now - self.window
        sent = []
        for raw in entry.get("sent", []):
            t = float(raw)
            if t > now + _FUTURE_SLACK:  # the wall clock went backwards: count it as just sent
                t = now
            if t > horizon:
                sent.append(t)
        entry["sent"] = sorted(sent)
        blocked = entry.get("blocked_until")
        if blocked is not None:
            try:
                blocked = float(blocked)
            except (TypeError, ValueError):
                blocked = float("nan")
            if blocked != blocked:  # unreadable or NaN: the longest believable pause
                blocked = now + self.max_block + 1
            if blocked > now + self.max_block:  # e.g. a Retry-After of 31 years stored earlier
                log.warning(
                    "the stored rate-limit pause (%.0fs) is beyond Exist's hourly window; "
                    "capped to %.0fs",
                    blocked - now,
                    self.max_block,
                )
                blocked = now + self.max_block
                self._repaired = True
                entry["blocked_reason"] = (
                    f"rate-limited by Exist (a stored pause beyond an hour, capped to "
                    f"{self.max_block:.0f}s)"
                )
            entry["blocked_until"] = blocked
        if blocked is not None and blocked <= now:
            entry["blocked_until"] = None
            entry.pop("blocked_reason", None)
        return entry

    def _prune_keys(self, data: dict[str, Any]) -> None:
        now = self.clock()
        for key in list(data["keys"]):
            entry = self._entry(data, key, now)
            if not entry["sent"] and not entry.get("blocked_until"):
                del data["keys"][key]

    def _read(self) -> dict[str, Any]:
        if self.path is None:
            return self._memory
        try:
            data = read_json(self.path)
        except (ValueError, OSError) as err:
            log.error(
                "request budget file %s is unreadable (%s); starting a new one", self.path, err
            )
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("keys"), dict):
            data = {"version": FILE_VERSION, "keys": {}}
        return data

    @contextlib.contextmanager
    def _transaction(self, write: bool = True) -> Iterator[dict[str, Any]]:
        """Read the budget (under the thread and file locks), let the caller change it, and write
        it back unless the caller raised (a refused reservation changes nothing - except that a
        stored pause found beyond the cap is written back capped, so it ends)."""
        with self._mutex, locked(self.path) if self.path is not None else nullcontext():
            data = self._read()
            self._repaired = False
            try:
                yield data
            except BudgetExhausted:
                if write and self._repaired:
                    self._save(data)
                raise
            if write:
                self._save(data)

    def _save(self, data: dict[str, Any]) -> None:
        self._prune_keys(data)
        data["version"] = FILE_VERSION
        if self.path is not None:
            write_json_atomic(self.path, data)
        else:
            self._memory = data


def parse_retry_after(header: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not header:
        return None
    header = header.strip()
    try:
        seconds = float(header)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - now
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)
