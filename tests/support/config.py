"""Bridge YAML configs built from a few parameters, instead of hand-copied YAML in each test."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

__all__ = [
    "COFFEE_FRIDGE_ATTRIBUTES",
    "COFFEE_FRIDGE_MAPPINGS",
    "Env",
    "bridge_config",
    "button_config",
    "write_bridge_config",
]

#: The first-hour tests' attributes: Exist's ``coffees`` template and a custom ``fridge_opens``.
COFFEE_FRIDGE_ATTRIBUTES = [
    {"template": "coffees"},
    {"name": "fridge_opens", "label": "Fridge opens", "group": "food", "value_type": 0},
]
#: ... fed by single presses of a Zigbee button and by fridge doors closing (contact true→false).
COFFEE_FRIDGE_MAPPINGS = [
    {
        "topic": "zigbee2mqtt/coffee_button",
        "attribute": "coffees",
        "condition": "{{ value_json.action == 'single' }}",
    },
    {
        "topic": "zigbee2mqtt/+/fridge",
        "attribute": "fridge_opens",
        "json_path": "contact",
        "edge": {"from": True, "to": False},
    },
]


@dataclass(frozen=True)
class Env:
    """A value read from the environment by the bridge: written as ``!env NAME``."""

    name: str


def _env_representer(dumper: yaml.SafeDumper, env: Env) -> yaml.Node:
    return dumper.represent_scalar("!env", env.name)


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(Env, _env_representer)


def bridge_config(
    *,
    url: str,
    token: str | Env | None,
    port: int,
    state_dir: str | Path,
    attributes: list[dict],
    mappings: list[dict],
    client_id: str = "bridge-under-test",
    timezone: str | None = "UTC",
    delay: float = 3600,
    requests_per_hour: int | None = None,
    exist: dict | None = None,
    mqtt: dict | None = None,
    bridge: dict | None = None,
    read: dict | None = None,
) -> str:
    """The YAML text of a bridge config talking to ``url`` (the mock) and the broker on
    127.0.0.1:``port``. ``attributes``/``mappings`` are the config's lists as dicts (e.g.
    ``{"template": "coffees"}``, ``{"topic": "t", "attribute": "coffees"}``); ``exist``,
    ``mqtt`` and ``bridge`` add or override keys of those sections; ``read`` is the read section.
    ``Env("X")`` as a value is written ``!env X``; ``token=None`` / ``timezone=None`` leave the
    key out."""
    exist_section: dict = {"base_url": url, "token": token, "timezone": timezone}
    if token is None:  # e.g. a token_file in ``exist`` instead
        del exist_section["token"]
    if timezone is None:  # the bridge asks Exist for the user's
        del exist_section["timezone"]
    if requests_per_hour is not None:
        exist_section["requests_per_hour"] = requests_per_hour
    doc = {
        "exist": {**exist_section, **(exist or {})},
        "mqtt": {"host": "127.0.0.1", "port": port, "client_id": client_id, **(mqtt or {})},
        "bridge": {
            "state_dir": str(state_dir),
            "event_delay": delay,
            "total_delay": delay,
            **(bridge or {}),
        },
        "attributes": attributes,
        "mappings": mappings,
    }
    if read is not None:
        doc["read"] = read
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True)


def write_bridge_config(path: str | Path, **params) -> Path:
    """Write ``bridge_config(**params)`` to ``path``; returns the path."""
    path = Path(path)
    path.write_text(bridge_config(**params))
    return path


def button_config(
    mock,
    port: int,
    tmp_path: str | Path,
    discovery: str = "false",
    interval: float = 3600,
    url: str | None = None,
    token: str | None = None,
    timezone: str | None = "UTC",
) -> str:
    """The service tests' config: ``coffees`` counted from single presses on ``button/+/action``,
    against ``mock`` (or ``url``/``token``) and the broker on ``port``; state under ``tmp_path``."""
    return bridge_config(
        url=url or mock.url,
        token=token or mock.token,
        port=port,
        state_dir=Path(tmp_path) / "state",
        client_id="bridge-svc",
        timezone=timezone,
        delay=interval,
        mqtt={"discovery": discovery == "true"},
        attributes=[{"template": "coffees"}],
        mappings=[
            {
                "topic": "button/+/action",
                "attribute": "coffees",
                "condition": "{{ value_json.action == 'single' }}",
            }
        ],
    )
