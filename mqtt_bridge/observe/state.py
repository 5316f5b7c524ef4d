"""What the HTTP endpoint reads from the running bridge, and the health verdict.

The bridge hands the endpoint a ``BridgeView``: ``live()`` returns a ``LiveState`` (a snapshot of
the facts only the running process knows: its phase, the broker link, the budget) and ``tally``
counts what happens in this process (messages per mapping and outcome, requests to Exist per
endpoint and status). What is durable (pending totals, counters, dead letters, last sync) the
endpoint reads from the outbox itself, with its own SQLite connection.
"""

from __future__ import annotations

import functools
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

OUTCOMES = ("received", "counted", "skipped", "rejected")


@dataclass(frozen=True)
class MappingInfo:
    """One configured mapping, as shown in metrics labels and on the status page."""

    index: int
    topic: str
    attribute: str
    mode: str


@dataclass(frozen=True)
class AccountInfo:
    """One of several Exist accounts (``exist.accounts``), as the endpoint shows it."""

    name: str
    mappings: tuple[int, ...] = ()  # the indexes of the mappings that write to it
    budget_left: int | None = None
    budget_allowed: int | None = None
    flush_problem: str | None = None
    token_refused: str | None = None


@dataclass(frozen=True)
class LiveState:
    """A snapshot of the running bridge. ``phase``: ``starting`` (not yet taking messages in,
    e.g. waiting for Exist to tell the timezone), ``running`` or ``stopping``."""

    version: str
    phase: str
    broker: str  # host:port
    broker_connected: bool
    outbox_path: Path
    mappings: tuple[MappingInfo, ...] = ()
    budget_left: int | None = None
    budget_allowed: int | None = None
    flush_problem: str | None = None  # why the last flush was postponed, if it was
    token_refused: str | None = None  # why Exist refuses the token, while it does
    # the bridge's threads that should be running and are not (writer, flusher, MQTT network
    # loop): a wedged process, which only a restart mends
    dead_threads: tuple[str, ...] = ()
    # the Exist mirror (``read:``; None without it): ``Refresher.status()``
    read: dict[str, Any] | None = None
    # with several accounts (exist.accounts), each of them; () for the single account
    accounts: tuple[AccountInfo, ...] = ()


class Tally:
    """Counts since this process started: each mapping's messages by outcome (the
    ``MessageProcessor``'s observer) and each Exist request by endpoint and HTTP status (a
    ``requests`` response hook), read from any thread.

    ``message`` is called by one thread only (the network thread, for every message and
    mapping), so it takes no lock: a plain dict whose values only that thread changes (a reader's
    copy, ``dict(...)``, is one step under the GIL). Requests come from several threads: locked."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: dict[tuple[int, str], int] = {}
        self._requests: Counter[tuple[str, str, str, int]] = Counter()  # account first

    def message(self, index: int, outcome: str) -> None:
        """Count one message for mapping ``index`` (outcome: one of ``OUTCOMES``); one thread."""
        key = (index, outcome)
        messages = self._messages
        messages[key] = messages.get(key, 0) + 1

    def forget_messages(self) -> None:
        """Count the messages per mapping from zero again (a reload: a mapping's index may now
        be another mapping). A message being counted meanwhile may land in the old count."""
        self._messages = {}

    def request(self, method: str, endpoint: str, status: int, account: str = "") -> None:
        """Count one answered request to Exist (for ``account``)."""
        with self._lock:
            self._requests[(account, method, endpoint, status)] += 1

    def response_hook(self, response: Any, *args: Any, account: str = "", **kwargs: Any) -> None:
        """A ``requests`` response hook: counts the request the response answers."""
        method = response.request.method if response.request is not None else "?"
        path = urlsplit(response.url or "").path or "/"
        self.request(str(method), path, response.status_code, account)

    def messages(self) -> dict[tuple[int, str], int]:
        return dict(self._messages)

    def requests(self) -> dict[tuple[str, str, int], int]:
        """Answered requests by (method, endpoint, status), every account's."""
        total: Counter[tuple[str, str, int]] = Counter()
        for (_, method, endpoint, status), n in self.requests_by_account().items():
            total[(method, endpoint, status)] += n
        return dict(total)

    def requests_by_account(self) -> dict[tuple[str, str, str, int], int]:
        """Answered requests by (account, method, endpoint, status)."""
        with self._lock:
            return dict(self._requests)


class BridgeView(Protocol):
    """What the endpoint needs from the bridge (``service.Bridge`` provides it)."""

    tally: Tally

    def live(self) -> LiveState: ...


@dataclass
class Health:
    """The verdict of ``/healthz`` or ``/livez``: ``ok`` (HTTP 200) or not (503), with the
    reason."""

    ok: bool
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


def health(state: LiveState, outbox_problem: str | None = None) -> Health:
    """Healthy when running, connected to the broker, the state database is readable and Exist
    takes the token."""
    details = {
        "phase": state.phase,
        "broker": state.broker,
        "broker_connected": state.broker_connected,
        "version": state.version,
    }
    if state.token_refused and state.phase != "stopping":
        return Health(False, f"waiting: {state.token_refused}", details)
    if state.phase == "starting":
        return Health(
            False,
            "starting: not taking messages in yet (waiting for Exist to tell the user's "
            "timezone, or setting up)",
            details,
        )
    if state.phase == "stopping":
        return Health(False, "stopping", details)
    if state.dead_threads:
        return liveness(state)
    if outbox_problem:
        return Health(False, f"the state database can't be read: {outbox_problem}", details)
    if not state.broker_connected:
        return Health(False, f"not connected to the MQTT broker {state.broker}", details)
    return Health(True, "running and connected to the MQTT broker", details)


def liveness(state: LiveState) -> Health:
    """The verdict of ``/livez``: alive unless stopping or one of the bridge's threads died.
    Broker or Exist outages, and waiting at start-up, are not a reason: restarting the process
    would not end them (``/healthz`` reports those)."""
    details = {"phase": state.phase, "version": state.version}
    if state.phase == "stopping":
        return Health(False, "stopping", details)
    if state.dead_threads:
        return Health(
            False,
            f"a thread of the bridge died: {', '.join(state.dead_threads)} (restart it)",
            {**details, "dead_threads": list(state.dead_threads)},
        )
    return Health(True, f"the process and its threads are running ({state.phase})", details)


def count_requests(exist: Any, tally: Tally, account: str = "") -> None:
    """Count ``exist``'s answered requests in ``tally``, as ``account``'s (a response hook on its
    HTTP session; an Exist stand-in without one, as in tests, is left alone)."""
    session = getattr(getattr(exist, "client", None), "session", None)
    hooks = getattr(session, "hooks", None)
    if isinstance(hooks, dict):
        hooks.setdefault("response", []).append(
            functools.partial(tally.response_hook, account=account)
        )
