"""Fault rules: make the next N requests matching a path fail, slow down, or apply-then-fail.

Modes:
- ``status``: answer ``status`` without touching state (as a proxy in front of exist.io would).
- ``apply_then_fail``: process the request normally (state changes, ledger entries) and then answer
  ``status`` instead, so the caller cannot know whether its write landed.
- ``latency``: only sleep ``latency`` seconds, then process normally.
- ``slow_response``: process normally, then wait ``latency`` seconds before answering: a client
  killed or timing out meanwhile can't know its write landed.
Any other mode may also carry ``latency`` (slept before processing).
"""

from __future__ import annotations

import fnmatch
import itertools
from dataclasses import dataclass, field

MODES = ("status", "apply_then_fail", "latency", "slow_response")

_ids = itertools.count(1)


@dataclass
class FaultRule:
    path: str  # exact path, or a glob such as "/api/2/attributes/*"
    status: int = 500
    count: int | None = 1  # None: until removed
    method: str | None = None
    mode: str = "status"
    latency: float = 0.0
    id: int = field(default_factory=lambda: next(_ids))
    fired: int = 0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        if not 100 <= int(self.status) <= 599:
            raise ValueError("status must be an HTTP status code")
        if self.count is not None and self.count < 1:
            raise ValueError("count must be at least 1")
        if self.latency < 0:
            raise ValueError("latency must not be negative")

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        return path == self.path or fnmatch.fnmatchcase(path, self.path)

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "path": self.path,
            "status": self.status,
            "count": self.count,
            "method": self.method,
            "mode": self.mode,
            "latency": self.latency,
            "fired": self.fired,
        }


class FaultRules:
    def __init__(self) -> None:
        self.rules: list[FaultRule] = []

    def add(self, rule: FaultRule) -> FaultRule:
        self.rules.append(rule)
        return rule

    def take(self, method: str, path: str) -> FaultRule | None:
        """The first live rule matching this request, spending one of its uses."""
        for rule in self.rules:
            if rule.matches(method, path):
                rule.fired += 1
                if rule.count is not None and rule.fired >= rule.count:
                    self.rules.remove(rule)
                return rule
        return None

    def clear(self) -> None:
        self.rules.clear()
