"""Fault rules: make requests matching a path fail the ways real networks and proxies fail.

Plain Python (no Flask): a rule says *when* it fires and *what* the client gets; the HTTP layer
(``http/fault_responses.py``) turns that into bytes on the wire. Modes:

- ``status``: answer ``status`` (default 500) ``{"detail": "Injected fault"}``.
- ``apply_then_fail``: the same, after the request was processed (state changed, ledger entries).
- ``latency``: only sleep ``latency`` seconds, then answer normally.
- ``slow_response``: process, then sleep ``latency`` before answering (``latency`` with
  ``latency_after``: "applied, then the client died before the answer").
- ``reset``: close the TCP connection without an answer (the client sees a connection error).
- ``truncated_json``: the real answer (processed), its JSON body cut after half its bytes.
- ``malformed_json``: ``status`` (default 200) with a body that is not JSON, typed
  ``application/json``.
- ``slow_body``: the real answer, its headers at once and its body trickled over ``latency`` s
  (here ``latency`` is that duration, not a sleep before or after).
- ``html_error``: ``status`` (default 502) with a proxy's HTML error page.

``apply`` says whether the request is processed before the fault answers; each mode has a
default (``apply_then_fail``, ``latency``, ``slow_response``, ``truncated_json`` and ``slow_body``
always process). ``latency`` is slept before processing, or after it with ``latency_after``.
``probability`` (with a ``seed``) makes a rule fire on a random share of matching requests,
reproducibly: the same seed and the same requests give the same fires. A rule fires at most
``count`` times (``None``: until cleared) and stays listed afterwards, with ``fired`` and
``matched`` counts, until cleared.
"""

from __future__ import annotations

import fnmatch
import random
from dataclasses import dataclass, field

from . import checks

MODES = (
    "status",
    "apply_then_fail",
    "latency",
    "slow_response",
    "reset",
    "truncated_json",
    "malformed_json",
    "slow_body",
    "html_error",
)
# modes whose answer is the real one (changed or delayed): the request is always processed
ALWAYS_APPLIED = ("apply_then_fail", "latency", "slow_response", "truncated_json", "slow_body")
DEFAULT_STATUS = {"malformed_json": 200, "html_error": 502}
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")


@dataclass
class FaultRule:
    path: str  # exact path, or a glob such as "/api/2/attributes/*"
    status: int | None = None  # None: the mode's default (500; 200 malformed_json; 502 html_error)
    count: int | None = 1  # fires at most this often; None: until cleared
    method: str | None = None
    mode: str = "status"
    latency: float = 0.0
    latency_after: bool = False  # sleep after processing the request instead of before
    apply: bool | None = None  # process the request first; None: the mode's default
    probability: float = 1.0  # share of matching requests it fires on
    seed: int | None = None  # for ``probability`` < 1: the same seed, the same fires
    id: int = 0
    fired: int = 0  # times it fired
    matched: int = 0  # matching requests seen while active (fired or not)
    _random: random.Random = field(default=None, repr=False, compare=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        checks.text("path", self.path, nullable=False)
        checks.choice("mode", self.mode, MODES)
        if self.status is None:
            self.status = DEFAULT_STATUS.get(self.mode, 500)
        checks.whole("status", self.status, 100, 599)
        checks.whole("count", self.count, 1, checks.MAX_COUNT, nullable=True)
        if self.method is not None:
            self.method = checks.choice("method", str(self.method).upper(), METHODS)
        checks.number("latency", self.latency, 0, checks.MAX_LATENCY)
        checks.boolean("latency_after", self.latency_after)
        if self.mode == "slow_response":
            self.latency_after = True
        if self.apply is None:
            self.apply = self.mode in ALWAYS_APPLIED
        checks.boolean("apply", self.apply)
        if self.mode in ALWAYS_APPLIED and not self.apply:
            raise checks.ControlError("apply", f"mode {self.mode} always processes the request")
        checks.number("probability", self.probability, 0.0, 1.0)
        if self.probability <= 0:
            raise checks.ControlError("probability", "must be above 0")
        checks.whole("seed", self.seed, 0, checks.MAX_SEED, nullable=True)
        checks.whole("fired", self.fired, 0, 2**63)
        checks.whole("matched", self.matched, 0, 2**63)
        self._random = random.Random(self.seed)

    @property
    def active(self) -> bool:
        return self.count is None or self.fired < self.count

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method != method.upper():
            return False
        return path == self.path or fnmatch.fnmatchcase(path, self.path)

    def roll(self) -> bool:
        """Count a matching request; True if the rule fires on it."""
        self.matched += 1
        if self.probability < 1.0 and self._random.random() >= self.probability:
            return False
        self.fired += 1
        return True

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "path": self.path,
            "status": self.status,
            "count": self.count,
            "method": self.method,
            "mode": self.mode,
            "latency": self.latency,
            "latency_after": self.latency_after,
            "apply": self.apply,
            "probability": self.probability,
            "seed": self.seed,
            "fired": self.fired,
            "matched": self.matched,
            "active": self.active,
        }


# the fields a client gives when adding a rule (``to_json`` adds id, counts and ``active``)
RULE_FIELDS = (
    "path",
    "status",
    "count",
    "method",
    "mode",
    "latency",
    "latency_after",
    "apply",
    "probability",
    "seed",
)


class FaultRules:
    """The rules of one mock, in the order added; the first active match decides."""

    def __init__(self) -> None:
        self.rules: list[FaultRule] = []
        self._next_id = 1

    def add(self, rule: FaultRule) -> FaultRule:
        if not rule.id:
            rule.id = self._next_id
        self._next_id = max(self._next_id, rule.id) + 1
        self.rules.append(rule)
        return rule

    def take(self, method: str, path: str) -> FaultRule | None:
        """The rule that fires on this request, if any (its counts updated)."""
        for rule in self.rules:
            if rule.active and rule.matches(method, path) and rule.roll():
                return rule
        return None

    def remove(self, rule_id: int) -> bool:
        before = len(self.rules)
        self.rules = [r for r in self.rules if r.id != rule_id]
        return len(self.rules) < before

    def clear(self) -> None:
        self.rules.clear()
