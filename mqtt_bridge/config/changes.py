"""What a reload may change in a running bridge, and what only a restart changes.

A reload (``SIGHUP``, ``exist-bridge reload``) applies the ``mappings``, the ``attributes`` and
the ``bridge`` keys in ``LIVE_BRIDGE_KEYS`` (they only shape how the next messages are read and
how long their changes may wait). Every other key is held by something built once at start - the
broker session (``mqtt``), the Exist client and its budget (``exist``), the state directory, the
HTTP endpoint (``http``), the Exist mirror (``read``) - so ``restart_needed`` names the ones that
changed and ``live_config`` keeps their old values until a restart.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .model import BridgeConfig

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
            if getattr(old_block, field.name) != getattr(new_block, field.name):
                changed.append(running.name_of(f"{section}.{field.name}"))
    return changed


def live_config(running: BridgeConfig, new: BridgeConfig) -> BridgeConfig:
    """``new``'s mappings, attributes and live ``bridge`` keys with everything else kept from
    the running configuration (what a reload applies)."""
    live: dict[str, Any] = {key: getattr(new.bridge, key) for key in LIVE_BRIDGE_KEYS}
    return dataclasses.replace(
        running,
        bridge=dataclasses.replace(running.bridge, **live),
        attributes=list(new.attributes),
        mappings=list(new.mappings),
        warnings=list(new.warnings),
        check_errors=list(new.check_errors),
    )
