"""Issue 28: what the HTTP endpoint costs when it is off. ``exist-bridge run`` with ``http``
disabled (the default) loads neither waitress nor prometheus_client nor the status page's
module; with it enabled they load as before."""

from __future__ import annotations

import subprocess
import sys

WEB_MODULES = ("waitress", "prometheus_client", "mqtt_bridge.observe.web")


def loaded_after(code: str) -> set[str]:
    """The WEB_MODULES a fresh interpreter has loaded after running ``code``."""
    probe = f"import sys\n{code}\nprint(' '.join(m for m in {WEB_MODULES!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    return set(out.stdout.split())


def test_the_run_command_loads_no_web_server_while_http_is_off():
    assert loaded_after("import mqtt_bridge.cli, mqtt_bridge.service") == set()


def test_the_endpoint_is_still_at_hand_from_observe():
    loaded = loaded_after(
        "from mqtt_bridge.observe import HttpEndpoint, ObserveApp\n"
        "assert HttpEndpoint.__module__ == ObserveApp.__module__ == 'mqtt_bridge.observe.web'"
    )
    assert loaded == set(WEB_MODULES)
