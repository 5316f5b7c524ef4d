"""A token Exist refuses shows in `status` (text and --json), fails `status --check`, and is
the reason `/healthz` and the status page give, while the bridge keeps retrying (issue 24,
item 3)."""

from __future__ import annotations

import json

import pytest
import requests

from ..support.cli import RunningBridge, cli
from ..support.config import write_bridge_config
from ..support.net import free_port
from ..support.waiting import wait_until


@pytest.mark.parametrize("timezone", ["UTC", None], ids=["set-up", "start-up"])
def test_a_refused_token_is_shown_wherever_the_bridge_is_watched(
    mock_exist, mosquitto, tmp_path, timezone
):
    """With exist.timezone the bridge runs and retries the attributes' set-up; without it, it
    waits at start for the profile's timezone: either way the refusal is said."""
    port = free_port()
    path = write_bridge_config(
        tmp_path / "bridge.yaml",
        url=mock_exist.url,
        token="not-the-token",
        port=mosquitto.port,
        state_dir=tmp_path / "state",
        timezone=timezone,
        attributes=[{"template": "coffees"}],
        mappings=[{"topic": "zigbee2mqtt/coffee_button", "attribute": "coffees"}],
    )
    path.write_text(path.read_text() + f"http:\n  enabled: true\n  port: {port}\n")
    bridge = RunningBridge(path)
    try:
        bridge.wait_for("Exist refused the token")

        def status():
            return cli("status", "-c", str(path))

        wait_until(lambda: "waiting:" in status().stdout, timeout=30, interval=0.3)
        done = status()
        waiting = [line for line in done.stdout.splitlines() if line.startswith("waiting:")]
        assert waiting[0].startswith("waiting:         Exist refused the token")
        assert "401" in waiting[0]

        as_json = json.loads(cli("status", "-c", str(path), "--json").stdout)
        assert as_json["token_refused"].startswith("Exist refused the token")

        check = cli("status", "-c", str(path), "--check")
        assert check.returncode == 1
        assert "unhealthy: waiting: Exist refused the token" in check.stderr

        health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        assert health.status_code == 503
        assert health.json()["reason"].startswith("waiting: Exist refused the token")

        page = requests.get(f"http://127.0.0.1:{port}/", timeout=5).text
        assert 'id="token-refused"' in page and "Exist refused the token" in page
    finally:
        assert bridge.stop() == 0
