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
    """The discovery config topics and their payloads: connectivity, pending writes, budget."""
    device = {
        "identifiers": [node],
        "name": "Exist MQTT bridge",
        "sw_version": version,
        "manufacturer": "exist-mqtt-bridge",
    }
    availability = {"availability_topic": availability_topic}
    return {
        f"{discovery_prefix}/binary_sensor/{node}/connected/config": {
            "name": "Exist bridge",
            "unique_id": f"{node}_connected",
            "device_class": "connectivity",
            "state_topic": availability_topic,
            "payload_on": "online",
            "payload_off": "offline",
            "device": device,
        },
        f"{discovery_prefix}/sensor/{node}/pending/config": {
            "name": "Exist bridge pending writes",
            "unique_id": f"{node}_pending",
            "state_topic": status_topic,
            "value_template": "{{ value_json.pending_rows }}",
            "device": device,
            **availability,
        },
        f"{discovery_prefix}/sensor/{node}/budget/config": {
            "name": "Exist bridge requests left this hour",
            "unique_id": f"{node}_budget",
            "state_topic": status_topic,
            "value_template": "{{ value_json.budget_left }}",
            "device": device,
            **availability,
        },
    }
