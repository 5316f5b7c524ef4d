"""What a reload may change in a running bridge, and what only a restart changes.

A reload (``SIGHUP``, ``exist-bridge reload``) applies the ``mappings``, the ``attributes`` and
the ``bridge`` keys in ``LIVE_BRIDGE_KEYS`` (they only shape how the next messages are read and
how long their changes may wait). Every other key is held by something built once at start - the
broker session (``mqtt``), the Exist client and its budget (``exist``), the state directory, the
HTTP endpoint (``http``), the Exist mirror (``read``) - so ``restart_needed`` names the ones that
changed and ``live_config`` keeps their old values until a restart.

``exist.accounts`` too: each account's client, token, budget and flusher are built at start, so
an account added, removed or changed (token, time zone, budget, or which one is first) waits for
a restart. The new mappings apply at once all the same: a mapping of an account that only the
new configuration lists counts its events into the outbox under that account, where they wait
(kept, never sent with another account's token) until the restart starts that account. A
reload that makes another account the first keeps the mappings without ``account`` on the
running first account until the restart (which account is the default is part of the accounts).
A single-account bridge whose new configuration lists accounts for the first time keeps writing
the first account's mappings as its single account's until the restart (the restart gives that
account all of it, as ``accounts.adopt_single_account`` says): their per-topic states are kept.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .model import SINGLE_ACCOUNT, AccountSettings, BridgeConfig

#: the ``bridge`` keys a reload applies (the rest of the section needs a restart)
LIVE_BRIDGE_KEYS = (
    "event_delay",
    "total_delay",
    "flush_interval",
    "max_payload_bytes",
    "event_time_window",
    "event_time_skew",
)
#: the sections held by what the bridge builds at start (a change needs a restart)
RESTART_SECTIONS = ("mqtt", "exist", "http", "read")


def restart_needed(running: BridgeConfig, new: BridgeConfig) -> list[str]:
    """The keys (``mqtt.host``, ``bridge.state_dir``...) whose value in ``new`` differs from the
    running configuration's and that only a restart applies, in file order. Secrets are compared
    without being revealed."""
    changed = []
    for section in (*RESTART_SECTIONS, "bridge"):
        old_block, new_block = getattr(running, section), getattr(new, section)
        for field in dataclasses.fields(old_block):
            if section == "bridge" and field.name in LIVE_BRIDGE_KEYS:
                continue
            if section == "exist" and field.name == "accounts":
                changed.extend(_accounts_changed(running, new))
            elif getattr(old_block, field.name) != getattr(new_block, field.name):
                changed.append(running.name_of(f"{section}.{field.name}"))
    return changed


def _accounts_changed(running: BridgeConfig, new: BridgeConfig) -> list[str]:
    """What changed in ``exist.accounts`` (where in the file each is, aside): each account
    added or removed, the keys changed of each other, and which is first (the default)."""
    key = running.name_of("exist.accounts")
    old = {a.name: a for a in running.exist.accounts}
    now = {a.name: a for a in new.exist.accounts}
    said = [f"{key} ({name} added)" for name in now if name not in old]
    said += [f"{key} ({name} removed)" for name in old if name not in now]
    for name in (n for n in now if n in old):
        keys = [
            f.name
            for f in dataclasses.fields(AccountSettings)
            if f.name != "line" and getattr(old[name], f.name) != getattr(now[name], f.name)
        ]
        if keys:
            said.append(f"{key} ({name}: {', '.join(keys)})")
    if old and now and list(now)[0] != list(old)[0]:  # (the order of the others: no matter)
        said.append(f"{key} (another first account: the default)")
    return said


def live_config(running: BridgeConfig, new: BridgeConfig) -> BridgeConfig:
    """``new``'s mappings, attributes and live ``bridge`` keys with everything else kept from
    the running configuration (what a reload applies)."""
    live: dict[str, Any] = {key: getattr(new.bridge, key) for key in LIVE_BRIDGE_KEYS}
    mappings = list(new.mappings)
    first, now_first = running.accounts[0].name, new.accounts[0].name
    if running.exist.accounts and new.exist.accounts and first != now_first:
        # another account is first: the running first stays the default until the restart, so
        # a mapping without account goes on writing to the same person meanwhile
        mappings = [
            m if m.account_given else dataclasses.replace(m, account=first) for m in mappings
        ]
    if not running.exist.accounts and new.exist.accounts:  # the running single account is
        first = new.accounts[0].name  # the first account until the restart makes it so
        mappings = [
            dataclasses.replace(m, account=SINGLE_ACCOUNT) if m.account == first else m
            for m in mappings
        ]
    return dataclasses.replace(
        running,
        bridge=dataclasses.replace(running.bridge, **live),
        attributes=list(new.attributes),
        mappings=mappings,
        warnings=list(new.warnings),
        check_errors=list(new.check_errors),
    )
