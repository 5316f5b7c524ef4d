"""The Home Assistant add-on's glue: from the Supervisor's world to a ``BridgeConfig``.

``exist-bridge addon`` (what the add-on's container runs) reads the add-on options
(``/data/options.json``), takes the MQTT broker from the Supervisor's MQTT service
(``GET http://supervisor/services/mqtt`` with ``$SUPERVISOR_TOKEN``) unless the options override
it, keeps the state in ``/data``, reads the mappings from a YAML file in the add-on's config
folder (``/config``, seen in Home Assistant as ``/addon_configs/<slug>/``; a commented starter is
written there on first start) and runs the bridge with the HTTP endpoint on for ingress.
Every path and URL is a parameter (``AddonPaths``), so tests use a temporary directory and a
local fake Supervisor.
"""

from .glue import AddonError, AddonPaths, build_config, mqtt_service, read_options

__all__ = ["AddonError", "AddonPaths", "build_config", "mqtt_service", "read_options"]
