"""The ledger: every change the store applied to a value, in order.

What fault tests compare with their ground truth: one entry per value change with the value before
and after, the operation, the client and the request that caused it. The store writes it as it
applies a write (``store.py``); tests read it through ``MockExist.ledger``.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass


@dataclass
class LedgerEntry:
    seq: int
    request_id: int | None
    time: str
    username: str
    client_id: str | None
    attribute: str
    date: str
    op: str  # "update" or "increment"
    value: object  # the value sent (a total for update, a delta for increment)
    before: object
    after: object


class Ledger:
    def __init__(self) -> None:
        self.entries: list[LedgerEntry] = []
        self._seq = itertools.count(1)

    def record(self, **fields: object) -> LedgerEntry:
        entry = LedgerEntry(seq=next(self._seq), **fields)  # type: ignore[arg-type]
        self.entries.append(entry)
        return entry

    def to_json(
        self, username: str | None = None, attribute: str | None = None, date: str | None = None
    ) -> list[dict]:
        return [
            asdict(e)
            for e in self.entries
            if (username is None or e.username == username)
            and (attribute is None or e.attribute == attribute)
            and (date is None or e.date == date)
        ]

    def clear(self) -> None:
        self.entries.clear()
