"""Home Assistant MQTT discovery for the mirror: one entity per attribute, one for insights and
one for correlations, all under one "Exist" device (linked to the bridge's own device), available
while the bridge is.

Each entity reads its retained state document: ``state`` is its state, the whole document its
attributes (yesterday, last_7_days, averages).
"""

from __future__ import annotations

from typing import Any

from .values import Mirrored, sensor_kind


def exist_device(node: str, version: str) -> dict[str, Any]:
    """The "Exist" device the mirrored entities belong to."""
    return {
        "identifiers": [f"{node}_exist"],
        "name": "Exist",
        "manufacturer": "Hello Code",
        "model": "exist.io (read by exist-mqtt-bridge)",
        "sw_version": version,
        "via_device": node,
    }


def attribute_config(
    attribute: Mirrored, node: str, device: dict[str, Any], state_topic: str, availability: str
) -> tuple[str, dict[str, Any]]:
    """The discovery component and config payload of one mirrored attribute."""
    kind = sensor_kind(attribute.value_type)
    payload = _entity(attribute.label, f"{node}_exist_{attribute.name}", state_topic, availability)
    payload["device"] = device
    optional = {
        "unit_of_measurement": kind.unit,
        "device_class": kind.device_class,
        "state_class": kind.state_class,
        "icon": kind.icon,
    }
    payload.update({key: value for key, value in optional.items() if value is not None})
    return kind.component, payload


# The summary sensors: key in ``discovery_messages``' ``summaries`` -> (name, icon)
SUMMARIES = {
    "insight": ("Insight", "mdi:lightbulb-on-outline"),
    "correlation": ("Correlation", "mdi:link-variant"),
}


def summary_config(
    kind: str, node: str, device: dict[str, Any], state_topic: str, availability: str
) -> dict[str, Any]:
    """The discovery config of a summary sensor (``SUMMARIES``: its state is a sentence)."""
    name, icon = SUMMARIES[kind]
    payload = _entity(name, f"{node}_exist_{kind}", state_topic, availability)
    return {**payload, "device": device, "icon": icon}


def _entity(name: str, unique_id: str, state_topic: str, availability: str) -> dict[str, Any]:
    """What every mirrored entity's config has: its state is the document's ``state``, its
    attributes the whole document; available while the bridge is."""
    return {
        "name": name,
        "unique_id": unique_id,
        "state_topic": state_topic,
        "value_template": "{{ value_json.state }}",
        "json_attributes_topic": state_topic,
        "availability_topic": availability,
        "has_entity_name": True,
    }


def discovery_messages(
    discovery_prefix: str,
    node: str,
    version: str,
    availability: str,
    attributes: list[tuple[Mirrored, str]],
    summaries: dict[str, str],
) -> dict[str, dict[str, Any]]:
    """Config topic -> payload for ``attributes`` (each with its state topic) and the summary
    sensors in ``summaries`` (``insight``, ``correlation`` -> state topic)."""
    device = exist_device(node, version)
    messages = {}
    for attribute, state_topic in attributes:
        component, payload = attribute_config(attribute, node, device, state_topic, availability)
        topic = f"{discovery_prefix}/{component}/{node}_exist/{attribute.name}/config"
        messages[topic] = payload
    for kind, state_topic in summaries.items():
        topic = f"{discovery_prefix}/sensor/{node}_exist/{kind}/config"
        messages[topic] = summary_config(kind, node, device, state_topic, availability)
    return messages
