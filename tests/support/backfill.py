"""Helpers of the ``exist-bridge backfill`` tests: the config they share, running a backfill
with captured output, the mock's writes, CSV files."""

from __future__ import annotations

import csv
import io
from zoneinfo import ZoneInfo

from mqtt_bridge.backfill import run_backfill
from mqtt_bridge.config import BridgeConfig, parse_config

TZ = "Europe/Berlin"
ZONE = ZoneInfo(TZ)

CONFIG = """
exist:
  base_url: {url}
  token: {token}
  timezone: Europe/Berlin
  requests_per_hour: {per_hour}
bridge:
  state_dir: {state}
attributes:
  - template: steps
  - template: weight
  - {{name: energy_kwh, label: Energy kwh, group: custom, value_type: 1}}
  - {{name: door_opens, label: Door opens, group: custom, value_type: 0}}
  - {{name: tv_minutes, label: TV minutes, group: custom, value_type: 3}}
mappings:
  - topic: zigbee2mqtt/door
    attribute: door_opens
    json_path: contact
    edge: {{from: true, to: false}}
  - topic: homeassistant/sensor/phone_steps/state
    attribute: steps
    mode: update
"""

# the statistics tests': a meter, a steps reading, a temperature, and a door (history only)
STATISTICS_CONFIG = """
exist:
  base_url: {url}
  token: {token}
  timezone: Europe/Berlin
bridge:
  state_dir: {state}
attributes:
  - template: steps
  - {{name: energy_kwh, label: Energy kwh, group: custom, value_type: 1}}
  - {{name: room_temp, label: Room temp, group: custom, value_type: 1}}
  - {{name: door_opens, label: Door opens, group: custom, value_type: 0}}
mappings:
  - topic: homeassistant/sensor/phone_steps/state
    attribute: steps
"""


def config(mock, tmp_path, per_hour: int = 280) -> BridgeConfig:
    """``CONFIG`` for ``mock`` with its state under ``tmp_path``, parsed."""
    state = tmp_path / "state"
    text = CONFIG.format(url=mock.url, token=mock.token, state=state, per_hour=per_hour)
    return parse_config(text)


def run(cfg, options, **kwargs) -> tuple[int, str, str]:
    """``run_backfill`` with captured output: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    code = run_backfill(cfg, options, out, err, **kwargs)
    return code, out.getvalue(), err.getvalue()


def writes(mock) -> list[dict]:
    """The journal entries of the mock's ``update`` endpoint."""
    return [j for j in mock.state.journal("/api/2/attributes/update/")]


def write_csv(path, header, rows) -> None:
    """A CSV file at ``path``: ``header`` then ``rows``."""
    with open(path, "w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(header)
        w.writerows(rows)
