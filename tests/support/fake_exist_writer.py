"""An in-memory Exist for flusher tests: applies increments and updates, refuses chosen
attributes, loses chosen answers (after applying), and records each request (kind, items)."""

from __future__ import annotations

from dataclasses import dataclass, field

from mqtt_bridge.pipeline.output.flusher import Postpone


class LostResponse(Exception):
    """The write was applied but the answer never arrived."""


@dataclass
class Result:
    success: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    requests: int = 1  # what the client reports it sent


class FakeExist:
    def __init__(self):
        self.values: dict[tuple[str, str], object] = {}
        self.requests: list[tuple[str, int]] = []
        self.refuse: dict[str, tuple[str, str]] = {}  # attribute -> (code, error)
        self.lose: set[str] = set()  # endpoints whose next answer is lost (after applying)
        self.during_update = None

    def _answer(self, endpoint, result):
        if endpoint in self.lose:
            self.lose.discard(endpoint)
            raise LostResponse
        return result

    def increment(self, items):
        self.requests.append(("increment", len(items)))
        r = Result()
        for it in items:
            if it["name"] in self.refuse:
                code, err = self.refuse[it["name"]]
                r.failed.append({**it, "error_code": code, "error": err})
                continue
            key = (it["name"], it["date"])
            self.values[key] = (self.values.get(key) or 0) + it["value"]
            r.success.append({**it, "current": self.values[key]})
        return self._answer("increment", r)

    def update(self, items):
        self.requests.append(("update", len(items)))
        if self.during_update:
            self.during_update()
        r = Result()
        for it in items:
            if it["name"] in self.refuse:
                code, err = self.refuse[it["name"]]
                r.failed.append({**it, "error_code": code, "error": err})
                continue
            self.values[(it["name"], it["date"])] = it["value"]
            r.success.append(dict(it))
        return self._answer("update", r)


def classify(err: Exception) -> Postpone:
    if isinstance(err, LostResponse):
        return Postpone(30, "no answer")
    raise err
