"""The bridge's view of Exist: the client plus ``AttributeManager``, shaped for the flusher.

- A value Exist can never accept (1.5 for an integer attribute) comes back as a per-item
  ``validation`` failure (``AttributeManager(invalid_items="fail")``), not a failed batch.
- Names are translated to the ones Exist gave (a custom attribute's slug) and back, so the outbox
  keeps the names of the config.
- Whole-request failures become a ``Postpone`` with a wait: Exist's own (``Retry-After``, the
  budget) or an exponential backoff for outages. Nothing here drops data.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from ...backoff import REFUSED_PAUSE, exist_outage
from ...config.model import SINGLE_ACCOUNT, BridgeConfig
from ...exist.attributes import AttributeManager, AttributeSpec
from ...exist.budget import RequestBudget, token_key
from ...exist.client import ExistClient, WriteResult
from ...exist.errors import (
    AuthError,
    ClientError,
    ConnectionFailed,
    OutcomeUnknown,
    PermissionDenied,
    RateLimited,
    ServerError,
)
from ...exist.tokens import load_credentials
from ...state_dir import ATTRIBUTES_FILE, BUDGET_FILE, account_dir
from .flusher import ExistWriter, Item, Postpone, PostponeKind

log = logging.getLogger("exist_bridge.exist")


def token_refused(err: Exception, token_key: str = "exist.token / token_file") -> str | None:
    """The one line to log when ``err`` means Exist refused the token (401, a token file that
    can't be used), naming where the token comes from; None for any other error (a 403 is a
    missing scope, not a bad token)."""
    if not isinstance(err, AuthError) or isinstance(err, PermissionDenied):
        return None
    said = f"{err.status}: {err.detail}" if err.status and err.detail is not None else str(err)
    return f"Exist refused the token (check EXIST_TOKEN / token_file; here: {token_key}): {said}"


class ExistService(ExistWriter, Protocol):
    """What the running bridge needs of Exist: ``ExistAdapter`` here, a stand-in in a test."""

    def timezone(self) -> str: ...

    def value_type(self, name: str) -> int | None: ...

    def bootstrap(self) -> None: ...

    def classify(self, err: Exception) -> Postpone: ...

    def token_refused(self, err: Exception) -> str | None: ...

    def set_deadline(self, deadline: float | None) -> None: ...

    def budget_left(self) -> int | None: ...


class ExistAdapter:
    """The bridge's ``ExistService``: the client and its ``AttributeManager``."""

    def __init__(
        self,
        client: ExistClient,
        manager: AttributeManager,
        backoff: float = 60.0,
        token_key: str = "exist.token / token_file",
        account: str = SINGLE_ACCOUNT,
    ):
        """``account``: the name of the account in the configuration (whose attributes it
        acquires; ``''``: the single account)."""
        self.client = client
        self.manager = manager
        self.account = account
        self.backoff = backoff  # the first wait after Exist failed; doubled while it lasts
        self.token_key = token_key  # where the token comes from, for messages
        self._outage = exist_outage(backoff)

    def token_refused(self, err: Exception) -> str | None:
        """``token_refused(err)`` naming this configuration's token key."""
        return token_refused(err, self.token_key)

    # ----------------------------------------------------------------- start-up

    def timezone(self) -> str:
        """The user's timezone from the Exist profile."""
        return self.manager.timezone(refresh=True)

    def value_type(self, name: str) -> int | None:
        """The value type Exist reported for ``name`` (remembered from earlier runs), if known."""
        return self.manager.value_type(name)

    def set_attributes(self, config: BridgeConfig) -> None:
        """Bootstrap ``config``'s attributes (this account's) from now on (a reload;
        ``bootstrap`` acquires or creates the new ones)."""
        # the single account too: the attributes of its mappings (and of none), not those of
        # the accounts a reload's configuration lists for the next start (``config.changes``)
        self.manager.set_specs(attribute_specs(config, self.account))

    def bootstrap(self) -> None:
        """Acquire/create the configured attributes (remembered: a no-op after the first time)."""
        report = self.manager.bootstrap()
        for name in report.acquired:
            log.info("acquired %s", name)
        for name in report.created:
            log.info("created %s", name)
        for failure in report.failed:
            log.error(
                "could not set up attribute %s: %s (%s)",
                failure.name,
                failure.error,
                failure.error_code,
            )

    # ----------------------------------------------------------------- writes

    def increment(self, items: list[Item]) -> WriteResult:
        return self._write(items, increment=True)

    def update(self, items: list[Item]) -> WriteResult:
        return self._write(items, increment=False)

    def _write(self, items: list[Item], increment: bool) -> WriteResult:
        send = self.manager.increment if increment else self.manager.update
        result = send(items)  # invalid values come back as per-item "validation" failures
        back: dict[object, str] = {self.manager.server_name(i["name"]): i["name"] for i in items}
        result.success = [
            {**o, "name": back.get(o.get("name"), o.get("name"))} for o in result.success
        ]
        result.failed = [
            {**o, "name": back.get(o.get("name"), o.get("name"))} for o in result.failed
        ]
        self._outage.reset()
        return result

    # ----------------------------------------------------------------- errors and status

    def classify(self, err: Exception) -> Postpone:
        """How long to wait after a failed flush (nothing is dropped either way)."""
        if isinstance(err, RateLimited):  # includes our own budget running out
            return Postpone(max(1.0, err.retry_after), str(err), PostponeKind.RATE_LIMITED)
        if isinstance(err, (ServerError, ConnectionFailed, OutcomeUnknown)):
            wait = self._outage.next()
            return Postpone(wait, f"Exist unavailable: {err}", PostponeKind.UNAVAILABLE)
        if isinstance(err, AuthError):
            refused = self.token_refused(err)
            log.error(
                "%s; retrying in %.0f minutes",
                refused or f"Exist refused the credentials: {err} - check the token's scopes",
                REFUSED_PAUSE / 60,
            )
            return Postpone(REFUSED_PAUSE, f"authentication: {err}", PostponeKind.AUTHENTICATION)
        if isinstance(err, ClientError):
            log.error("Exist refused a whole request: %s", err)
            return Postpone(REFUSED_PAUSE, f"refused: {err}", PostponeKind.REFUSED)
        raise err

    def set_deadline(self, deadline: float | None) -> None:
        """No request may run past ``deadline`` (``time.monotonic()``; None: no limit)."""
        self.client.deadline = deadline

    def budget_left(self) -> int | None:
        try:
            key = token_key(self.client.credentials.access_token())
            return self.client.budget.status(key).remaining
        except Exception:  # noqa: BLE001 - status only
            return None


def attribute_specs(config: BridgeConfig, account: str) -> list[AttributeSpec]:
    """The configuration's attributes ``account`` acquires (``BridgeConfig.attributes_of``) as
    the ``AttributeManager`` bootstraps them."""
    specs: list[dict[str, Any]] = []
    for a in config.attributes_of(account):
        if a.template:
            specs.append({"template": a.template})
        else:
            specs.append(
                {"name": a.name, "label": a.label, "group": a.group, "value_type": a.value_type}
            )
    return [AttributeSpec.from_config(spec) for spec in specs]


def make_client(
    config: BridgeConfig,
    state_dir: Path,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    account: str | None = None,
) -> ExistAdapter:
    """Build the client, its persisted budget and the attribute manager from the config, for
    ``account`` (its name; None: the default, the first) (``clock`` and ``sleep`` for the
    budget and retries: tests move a mock's clock). A named account keeps its budget and
    attributes in ``state_dir/accounts/<name>/``."""
    e = config.exist
    which = config.accounts[0] if account is None else config.account(account)
    files = account_dir(state_dir, which.name)
    credentials = load_credentials(
        token=which.token.reveal() if which.token else None,
        token_file=which.token_file,
        client_id=e.client_id,
        client_secret=e.client_secret.reveal() if e.client_secret else None,
    )
    budget = RequestBudget(files / BUDGET_FILE, allowed=which.requests_per_hour, clock=clock)
    client = ExistClient(
        credentials,
        base_url=e.base_url,
        budget=budget,
        timeout=(min(5.0, e.timeout), float(e.timeout)),
        clock=clock,
        sleep=sleep,
    )
    specs = attribute_specs(config, which.name)
    manager = AttributeManager(client, specs, files / ATTRIBUTES_FILE, invalid_items="fail")
    where = f"exist.accounts[{config.accounts.index(which)}]" if which.name else "exist"
    key = f"{where}.token" if which.token else f"{where}.token_file {which.token_file}"
    return ExistAdapter(
        client,
        manager,
        backoff=config.retry_delay,
        token_key=key,
        account=which.name,
    )
