"""The bridge's configuration: one YAML file, checked against a voluptuous schema.

``load_config(path)`` / ``parse_config(text)`` return a typed ``BridgeConfig`` or raise
``ConfigError`` listing *every* problem as ``FILE:LINE: path: message`` (unknown keys included:
a typo must not pass silently). Secrets (``exist.token``, ``exist.client_secret``,
``mqtt.password``) never need to be written inline: use ``!env VAR_NAME`` or the ``<field>_file``
key (the file's content, stripped; ``exist.token_file`` is instead the OAuth2 token file written by
``exist-bridge authorize``). Secrets are held as ``Secret`` and never appear in reprs or errors.

One module per job:

- ``model``: ``Secret``, ``Problem``/``ConfigError``, the settings dataclasses;
- ``source``: the YAML reader (each key's line, ``!env``, ``<field>_file`` secrets);
- ``validators``: one value each; ``schema``: every key once, with its description, and a
  schema per mapping mode; ``checks``: what holds across keys, items and files;
- ``build``: ``parse_config``/``load_config``, the dataclasses built from the valid data;
- ``reference``: ``describe_schema`` and the documentation's generated reference
  (``python -m mqtt_bridge.config --write docs/reference/configuration.md``).

A new key: a field in ``model``, an entry in ``schema``. A new check across keys, or a file that
must exist: ``checks``. Exist's own rules (groups, value types, limits) are in
``mqtt_bridge.exist.domain``.
"""

from ..exist.domain import CREATABLE_VALUE_TYPES as VALUE_TYPES
from ..exist.domain import GROUPS
from .build import load_config, parse_config
from .model import (
    AttributeSpec,
    BridgeConfig,
    BridgeSettings,
    ConfigError,
    EdgeSpec,
    ExistSettings,
    HttpSettings,
    MappingSpec,
    MqttSettings,
    Problem,
    Secret,
    TlsSettings,
)
from .reference import describe_schema

__all__ = [
    "GROUPS",
    "VALUE_TYPES",
    "AttributeSpec",
    "BridgeConfig",
    "BridgeSettings",
    "ConfigError",
    "EdgeSpec",
    "ExistSettings",
    "HttpSettings",
    "MappingSpec",
    "MqttSettings",
    "Problem",
    "Secret",
    "TlsSettings",
    "describe_schema",
    "load_config",
    "parse_config",
]
