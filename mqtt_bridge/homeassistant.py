"""Home Assistant MQTT discovery: the bridge's own health as entities of one device.

The payloads only; ``pipeline.input.mqtt.BrokerLink`` publishes them (retained) on connect.
The entities read the retained ``<prefix>/availability`` and ``<prefix>/status`` topics.
"""

from __future__ import annotations

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
) -> dict[str, dict[str, Any]]:
    """The discovery config topics and their payloads: connectivity, pending writes, requests
    left, last sync. Home Assistant's conventions: every entity is ``diagnostic`` (the bridge's
    health, not a measurement of the home), names don't repeat the device's (``has_entity_name``:
    HA shows "Exist MQTT bridge Pending writes"), counts have a unit and ``state_class:
    measurement``, the last sync is a ``timestamp``."""
    device = {
        "identifiers": [node],
        "name": "Exist MQTT bridge",
        "sw_version": version,
        "manufacturer": "exist-mqtt-bridge",
    }
    common = {"device": device, "entity_category": "diagnostic", "has_entity_name": True}
    availability = {"availability_topic": availability_topic}
    return {
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
