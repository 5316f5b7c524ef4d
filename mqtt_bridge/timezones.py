"""Each account's time zone at start: where its "today" is.

The configuration's (``timezone``), else the one remembered from an earlier run (the outbox's
meta, per account), else the Exist profile's, asked for until Exist answers (messages wait in
the broker meanwhile). A stop asked during that wait ends it at once (``StartCancelled``). An
account other than the first may be given a ``fallback`` (the first account's zone) to use when
its profile can't be read, rather than holding up everyone's messages.
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

from . import backoff
from .accounts import Account
from .config.model import BridgeConfig
from .pipeline.buffer.outbox import Outbox
from .pipeline.buffer.rules import meta_key
from .pipeline.output.exist_output import ExistService

log = logging.getLogger("exist_bridge")


class StartCancelled(Exception):
    """A stop was asked for while start-up was still waiting for Exist."""


class Starting(Protocol):
    """What learning a time zone needs of the bridge being started (``service.Bridge``)."""

    config: BridgeConfig
    outbox: Outbox
    stopping: threading.Event
    cancel_start: threading.Event

    def note_token(self, account: Account, refused: str | None) -> None: ...

    def start_deadline(self) -> None: ...

    def unreachable(self, err: Exception) -> str: ...


def learn(bridge: Starting, account: Account, fallback: str | None = None) -> str:
    """``account``'s time zone (see the module's docstring)."""
    if account.settings.timezone:
        return account.settings.timezone
    key = meta_key("timezone", account.name)
    remembered = bridge.outbox.get_meta(key)
    retry = backoff.profile()
    if not remembered and fallback is None:
        log.info(
            "waiting for the Exist profile (the user's timezone, from exist.base_url %s); "
            "set exist.timezone to start without it",
            bridge.config.exist.base_url,
        )
    while not (bridge.stopping.is_set() or bridge.cancel_start.is_set()):
        try:
            zone = ask_profile(bridge, account.exist)
            if zone != remembered:
                bridge.outbox.set_meta(key, zone)
                if remembered:
                    log.warning(
                        "%s",
                        account.said(
                            f"the Exist profile's timezone changed from {remembered} to {zone}"
                        ),
                    )
            bridge.note_token(account, None)
            return zone
        except StartCancelled:
            raise
        except Exception as err:  # noqa: BLE001 - any failure: use what we know, or wait
            refused = account.exist.token_refused(err)
            if refused:
                bridge.note_token(account, refused)
            known = remembered or fallback
            if known:
                log.warning(
                    "%s",
                    account.said(
                        f"can't read the Exist profile ({refused or err}); using the "
                        f"timezone {known} "
                        + ("from the last run" if remembered else "of the first account")
                    ),
                )
                return known
            delay = retry.next()
            if refused:  # not "set exist.timezone": the token is what is wrong
                log.error("%s; retrying in %.0fs", refused, delay)
            else:
                log.warning(
                    "waiting for the Exist profile to learn the timezone (%s); set "
                    "exist.timezone to start without it",
                    bridge.unreachable(err),
                )
            bridge.cancel_start.wait(delay)
    raise StartCancelled


def ask_profile(bridge: Starting, exist: ExistService) -> str:
    """``exist.timezone()`` in a helper thread, so that a stop asked meanwhile ends the wait
    at once (``StartCancelled``) instead of after the client's timeouts and retries; the
    abandoned request is bounded by the stop deadline."""
    zones: list[str] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def ask() -> None:
        try:
            zones.append(exist.timezone())
        except BaseException as err:  # noqa: BLE001 - handed to the waiting thread
            errors.append(err)
        finally:
            done.set()

    threading.Thread(target=ask, name="exist-bridge-profile", daemon=True).start()
    while not done.wait(0.2):
        if bridge.cancel_start.is_set() or bridge.stopping.is_set():
            bridge.start_deadline()
            raise StartCancelled
    if errors:
        raise errors[0]
    return zones[0]
