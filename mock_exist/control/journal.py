"""The request journal: every request the mock answered, the oldest dropped past a size limit.

What a test reads to see what a client sent and got back (``MockExist.journal``, ``GET
/_mock/journal``); the changes those requests made are in ``rules/ledger.py``.
"""

from __future__ import annotations

import itertools
import json
from collections import deque
from dataclasses import asdict, dataclass


@dataclass
class JournalEntry:
    id: int
    time: str
    method: str
    path: str
    query: str
    status: int
    username: str | None
    client_id: str | None
    items: int | None  # objects in a write body
    fault: str | None
    body: object = None  # the parsed JSON array of a POST, if small enough to keep
    body_bytes: int = 0  # the request body's size
    truncated: bool = False  # a body was sent but not kept (too large, too deep, not parsable)
    answer: object = None  # the answer's body (kept as bytes; read as parsed JSON, else text)
    answer_bytes: int = 0  # the answer body's size (0 when streamed or none)


ENTRY_OVERHEAD = 300  # bytes counted for an entry's fields besides its body (a rough estimate)


class Journal:
    """The last ``maxlen`` requests, and no more than ``max_bytes`` of them: each entry counts its
    kept body's size plus ``ENTRY_OVERHEAD``; the oldest entries go first."""

    def __init__(self, maxlen: int = 50_000, max_bytes: int = 16 * 1024 * 1024):
        self.entries: deque[JournalEntry] = deque()
        self.maxlen = maxlen
        self.max_bytes = max_bytes
        self.bytes = 0
        self._ids = itertools.count(1)

    def next_id(self) -> int:
        return next(self._ids)

    @staticmethod
    def _cost(entry: JournalEntry) -> int:
        return (
            ENTRY_OVERHEAD
            + (0 if entry.body is None else entry.body_bytes)
            + (0 if entry.answer is None else entry.answer_bytes)
        )

    def add(self, entry: JournalEntry) -> None:
        self.entries.append(entry)
        self.bytes += self._cost(entry)
        while self.entries and (len(self.entries) > self.maxlen or self.bytes > self.max_bytes):
            self.bytes -= self._cost(self.entries.popleft())

    def to_json(
        self,
        path_prefix: str = "",
        status: str | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[dict]:
        """Entries whose path starts with ``path_prefix`` and whose status matches ``status``
        (``"429"``, or a class such as ``"4xx"``); at most the last ``limit`` of them."""
        chosen = [
            e
            for e in self.entries
            if e.path.startswith(path_prefix) and status_matches(e.status, status)
        ]
        if limit is not None:
            chosen = chosen[-limit:] if limit > 0 else []
        if newest_first:
            chosen.reverse()
        return [{**asdict(e), "answer": _readable(e.answer)} for e in chosen]

    def clear(self) -> None:
        self.entries.clear()
        self.bytes = 0


def _readable(answer: object) -> object:
    """A kept answer body as JSON data when it parses, else as text (parsed only when read, so
    serving a request costs no JSON parsing of its answer)."""
    if not isinstance(answer, bytes):
        return answer
    try:
        return json.loads(answer)
    except ValueError:
        return answer.decode("utf-8", "replace")


def status_matches(status: int, wanted: str | None) -> bool:
    """``wanted`` is empty (any), a status (``"202"``) or a class (``"4xx"``)."""
    if not wanted:
        return True
    wanted = wanted.strip().lower()
    if len(wanted) == 3 and wanted.endswith("xx") and wanted[0].isdigit():
        return status // 100 == int(wanted[0])
    return str(status) == wanted
