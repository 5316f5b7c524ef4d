"""Home Assistant MQTT discovery: the bridge's own health as entities of one device.

The payloads only; ``pipeline.input.mqtt.BrokerLink`` publishes them (retained) on connect.
The entities read the retained ``<prefix>/availability`` and ``<prefix>/status`` topics.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def node_id(client_id: str) -> str:
    """The bridge's id in Home Assistant, from its MQTT client id (letters, digits, ``_``)."""
    return "".join(c if c.isalnum() else "_" for c in client_id)


def discovery_messages(
    discovery_prefix: str,
    node: str,
    version: str,
    availability_topic: str,
    status_topic: str,
    accounts: Sequence[str] = (),
) -> dict[str, dict[str, Any]]:
    """The discovery config topics and their payloads: connectivity, pending writes, requests
    left, last sync; with several Exist ``accounts`` (their names), each account's pending
    writes, requests left and whether Exist refuses its token (from the status's ``accounts``).
    Home Assistant's conventions: every entity is ``diagnostic`` (the bridge's health, not a
    measurement of the home), names don't repeat the device's (``has_entity_name``: HA shows
    "Exist MQTT bridge Pending writes"), counts have a unit and ``state_class: measurement``,
    the last sync is a ``timestamp``."""
    device = {
        "identifiers": [node],
        "name": "Exist MQTT bridge",
        "sw_version": version,
        "manufacturer": "exist-mqtt-bridge",
    }
    common = {"device": device, "entity_category": "diagnostic", "has_entity_name": True}
    availability = {"availability_topic": availability_topic}
    messages = {
        f"{discovery_prefix}/binary_sensor/{node}/connected/config": {
            "name": "Connection",
            "unique_id": f"{node}_connected",
            "device_class": "connectivity",
            "state_topic": availability_topic,
            "payload_on": "online",
            "payload_off": "offline",
            **common,
        },
        f"{discovery_prefix}/sensor/{node}/pending/config": {
            "name": "Pending writes",
            "unique_id": f"{node}_pending",
            "state_topic": status_topic,
            "value_template": "{{ value_json.pending_rows }}",
            "unit_of_measurement": "totals",
            "state_class": "measurement",
            "icon": "mdi:upload-multiple",
            **common,
            **availability,
        },
        f"{discovery_prefix}/sensor/{node}/budget/config": {
            "name": "Requests left this hour",
            "unique_id": f"{node}_budget",
            "state_topic": status_topic,
            "value_template": "{{ value_json.budget_left }}",
            "unit_of_measurement": "requests",
            "state_class": "measurement",
            "icon": "mdi:counter",
            **common,
            **availability,
        },
        f"{discovery_prefix}/sensor/{node}/last_sync/config": {
            "name": "Last sync",
            "unique_id": f"{node}_last_sync",
            "state_topic": status_topic,
            # "None" (never synced) is what HA's MQTT sensor reads as unknown
            "value_template": "{{ value_json.last_sync_iso }}",
            "device_class": "timestamp",
            **common,
            **availability,
        },
    }
    for name in accounts:
        messages.update(_account_messages(discovery_prefix, node, name, status_topic, common))
    return messages


def _account_messages(
    prefix: str, node: str, name: str, status_topic: str, common: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """One account's entities: its pending writes, requests left and refused token."""
    slug = "".join(c if c.isalnum() else "_" for c in name)
    value = f"value_json.accounts[{name!r}]"
    shared = {"state_topic": status_topic, **common}
    return {
        f"{prefix}/sensor/{node}/pending_{slug}/config": {
            "name": f"Pending writes {name}",
            "unique_id": f"{node}_pending_{slug}",
            "value_template": f"{{{{ {value}.pending_rows }}}}",
            "unit_of_measurement": "totals",
            "state_class": "measurement",
            "icon": "mdi:upload-multiple",
            **shared,
        },
        f"{prefix}/sensor/{node}/budget_{slug}/config": {
            "name": f"Requests left this hour {name}",
            "unique_id": f"{node}_budget_{slug}",
            "value_template": f"{{{{ {value}.budget_left }}}}",
            "unit_of_measurement": "requests",
            "state_class": "measurement",
            "icon": "mdi:counter",
            **shared,
        },
        f"{prefix}/binary_sensor/{node}/token_{slug}/config": {
            "name": f"Exist token refused {name}",
            "unique_id": f"{node}_token_{slug}",
            "device_class": "problem",
            "value_template": f"{{{{ 'ON' if {value}.token_refused else 'OFF' }}}}",
            **shared,
        },
    }
