"""The Prometheus metrics: a ``prometheus_client`` collector read at each scrape.

Names (all prefixed ``exist_bridge_``; counters end in ``_total``):

- ``info{version}`` (1), ``running`` (1 while taking messages in), ``broker_connected`` (0/1);
- ``messages_received_total``, ``messages_counted_total``, ``messages_skipped_total``,
  ``messages_rejected_total``, each ``{mapping, topic, attribute}``: messages a mapping matched,
  turned into an effect on Exist, skipped (condition false, no edge, no change) or refused as
  bad input, since the process started;
- ``dead_letters_total{kind}``: bad input kept aside, by kind (kept in the state directory, so it
  does not reset on a restart);
- ``event_time_total{outcome}``: how mappings with ``event_time`` timed their messages (kept in
  the state directory): ``payload`` (the payload's time), ``missing``/``unreadable``/``too_old``/
  ``in_future`` (counted at the receive time instead), ``out_of_order`` (older than the topic's
  last trusted time: skipped), ``period_dropped`` (a duration period with one end of each kind);
  every outcome is present from 0;
- ``pending_totals``: (attribute, day) totals waiting to be sent; ``refused_totals``: refused
  by Exist for good (until they change);
- ``exist_requests_total{method, endpoint, status}``: answered requests to Exist since the
  process started; ``exist_rate_limited_total``: those answered 429;
- ``budget_left_requests`` / ``budget_allowed_requests``: the hourly request budget;
- with several accounts (``exist.accounts``) only, an ``account`` label (the account's name)
  comes first on ``exist_requests_total{account, method, endpoint, status}``,
  ``exist_rate_limited_total{account}``, ``budget_left_requests{account}``,
  ``budget_allowed_requests{account}`` and ``pending_totals{account}`` (one sample per listed
  account, 0 included; an account the configuration no longer lists while its totals wait has
  one too); a single-account bridge's have no labels but the ones above;
- ``last_sync_timestamp_seconds``: when Exist last confirmed a write (absent until it has);
- with ``read:`` only: ``read_refreshes_total`` (refreshes of the Exist mirror since the process
  started), ``read_attributes`` (attributes mirrored), ``read_waiting`` (1 while a refresh waits
  for a due write, the budget or Exist).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from ..pipeline.process.event_time import OUTCOMES as EVENT_TIME_OUTCOMES
from .state import OUTCOMES, AccountInfo, LiveState, Tally

PREFIX = "exist_bridge_"
MAPPING_LABELS = ["mapping", "topic", "attribute"]
DEAD_LETTER_PREFIX = "bad_input."
EVENT_TIME_PREFIX = "event_time."


class BridgeCollector(Collector):
    """Builds every metric from one snapshot: ``snapshot()`` returns the ``LiveState``, the
    outbox status (``Outbox.status()``, or None when it can't be read) and the ``Tally``."""

    def __init__(self, snapshot: Callable[[], tuple[LiveState, dict[str, Any] | None, Tally]]):
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        state, status, tally = self.snapshot()
        info = InfoMetricFamily(PREFIX + "build", "The running exist-bridge.")
        info.add_metric([], {"version": state.version})
        yield info
        yield _gauge("running", "1 while the bridge takes messages in.", state.phase == "running")
        yield _gauge(
            "broker_connected", "1 while connected to the MQTT broker.", state.broker_connected
        )
        yield from _per_mapping(state, tally)
        names = [a.name for a in state.accounts]  # exist.accounts: each account's, labelled
        yield from _requests(tally, names)
        if state.accounts:
            yield from _account_budgets(state.accounts)
        else:
            yield from _budget(state)
        if state.read is not None:
            yield from _mirror(state.read)
        if status is not None:
            yield from _stored(status, names)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(PREFIX + name, doc, value=float(value))


def _per_mapping(state: LiveState, tally: Tally) -> Iterator[Metric]:
    counts = tally.messages()
    docs = {
        "received": "Messages a mapping matched (since the process started).",
        "counted": "Messages a mapping turned into an effect on an Exist attribute.",
        "skipped": "Messages a mapping matched but did not count (condition, edge, no change).",
        "rejected": "Messages a mapping refused as bad input (kept as dead letters).",
    }
    for outcome in OUTCOMES:
        family = CounterMetricFamily(
            PREFIX + f"messages_{outcome}", docs[outcome], labels=MAPPING_LABELS
        )
        for m in state.mappings:
            labels = [str(m.index), m.topic, m.attribute]
            family.add_metric(labels, counts.get((m.index, outcome), 0))
        yield family


def _budget(state: LiveState) -> Iterator[Metric]:
    if state.budget_left is not None:
        yield _gauge(
            "budget_left_requests",
            "Requests to Exist left in this hour's budget.",
            state.budget_left,
        )
    if state.budget_allowed is not None:
        yield _gauge(
            "budget_allowed_requests",
            "Requests to Exist allowed per hour (exist.requests_per_hour).",
            state.budget_allowed,
        )


def _account_budgets(accounts: tuple[AccountInfo, ...]) -> Iterator[Metric]:
    left = GaugeMetricFamily(
        PREFIX + "budget_left_requests",
        "Requests to Exist left in this hour's budget, by account.",
        labels=["account"],
    )
    allowed = GaugeMetricFamily(
        PREFIX + "budget_allowed_requests",
        "Requests to Exist allowed per hour (exist.accounts[].requests_per_hour), by account.",
        labels=["account"],
    )
    for a in accounts:
        if a.budget_left is not None:
            left.add_metric([a.name], a.budget_left)
        if a.budget_allowed is not None:
            allowed.add_metric([a.name], a.budget_allowed)
    yield left
    yield allowed


def _requests(tally: Tally, accounts: list[str]) -> Iterator[Metric]:
    """Answered requests to Exist and those answered 429; with several ``accounts``
    (``exist.accounts``), labelled with the account first (each listed account's 429s from 0)."""
    if accounts:
        requests = tally.requests_by_account()
        labels, by, each = ["account"], "account, ", ", by account"
    else:  # the single account's: no account label
        requests = {("", *key): n for key, n in tally.requests().items()}
        labels, by, each = [], "", ""
    family = CounterMetricFamily(
        PREFIX + "exist_requests",
        f"Answered requests to Exist by {by}method, endpoint and HTTP status (since the process "
        "started).",
        labels=[*labels, "method", "endpoint", "status"],
    )
    limited = dict.fromkeys(accounts or [""], 0)
    for (account, method, endpoint, status), n in sorted(requests.items()):
        family.add_metric([account][: len(labels)] + [method, endpoint, str(status)], n)
        if status == 429:
            limited[account] = limited.get(account, 0) + n
    yield family
    rate_limited = CounterMetricFamily(
        PREFIX + "exist_rate_limited",
        f"Requests Exist answered 429 Too Many Requests{each} (since the process started).",
        labels=labels,
    )
    for account, n in limited.items():
        rate_limited.add_metric([account][: len(labels)], n)
    yield rate_limited


def _mirror(read: dict[str, Any]) -> Iterator[Metric]:
    yield CounterMetricFamily(
        PREFIX + "read_refreshes",
        "Refreshes of the Exist mirror (read:) since the process started.",
        value=read.get("refreshes", 0),
    )
    attributes = read.get("attributes", 0)
    yield _gauge("read_attributes", "Attributes the Exist mirror publishes.", attributes)
    yield _gauge(
        "read_waiting",
        "1 while a refresh of the Exist mirror waits (a write is due, the budget, Exist).",
        bool(read.get("postponed")),
    )


def _stored(status: dict[str, Any], accounts: list[str]) -> Iterator[Metric]:
    dead = CounterMetricFamily(
        PREFIX + "dead_letters",
        "Bad input kept aside, by kind (kept in the state directory across restarts).",
        labels=["kind"],
    )
    for name, n in sorted(status.get("counters", {}).items()):
        if name.startswith(DEAD_LETTER_PREFIX):
            dead.add_metric([name[len(DEAD_LETTER_PREFIX) :]], n)
    yield dead
    yield _event_time(status.get("counters", {}))
    if accounts:  # each listed account's from 0, and any other the outbox still keeps
        pending = GaugeMetricFamily(
            PREFIX + "pending_totals",
            "(attribute, day) totals waiting to be sent to Exist, by account.",
            labels=["account"],
        )
        by_account = {**dict.fromkeys(accounts, 0), **status.get("pending_by_account", {})}
        for account, n in by_account.items():
            pending.add_metric([account], n)
        yield pending
    else:
        yield _gauge(
            "pending_totals",
            "(attribute, day) totals waiting to be sent to Exist.",
            status.get("pending_rows", 0),
        )
    yield _gauge(
        "refused_totals",
        "(attribute, day) totals Exist refused (parked until they change).",
        status.get("refused_rows", len(status.get("refused", []))),
    )
    if status.get("last_sync"):
        yield _gauge(
            "last_sync_timestamp_seconds",
            "When Exist last confirmed a write (Unix time).",
            status["last_sync"],
        )


def _event_time(counters: dict[str, int]) -> Metric:
    family = CounterMetricFamily(
        PREFIX + "event_time",
        "How mappings with event_time timed their messages: payload, a fallback to the receive "
        "time (missing, unreadable, too_old, in_future), out_of_order (skipped), period_dropped "
        "(kept in the state directory across restarts).",
        labels=["outcome"],
    )
    timed = {
        name[len(EVENT_TIME_PREFIX) :]: n
        for name, n in counters.items()
        if name.startswith(EVENT_TIME_PREFIX)
    }
    for outcome in dict.fromkeys([*EVENT_TIME_OUTCOMES, *sorted(timed)]):
        family.add_metric([outcome], timed.get(outcome, 0))
    return family
