"""The documentation's production install path (docs/get-started/systemd.md) and the systemd unit
it uses agree."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # keep systemd's key case
    parser.read_string((ROOT / "examples" / "systemd" / "exist-bridge.service").read_text())
    return parser


def test_the_unit_uses_state_directory_and_the_paths_the_docs_give():
    service = unit()["Service"]
    assert service["StateDirectory"] == "exist-bridge"
    assert service["WorkingDirectory"] == "/var/lib/exist-bridge"
    assert service["User"] == "exist-bridge"
    assert service["KillSignal"] == "SIGTERM"
    section = (ROOT / "docs" / "get-started" / "systemd.md").read_text()
    assert service["ExecReload"].split(" ")[1] == "reload"
    assert "systemctl reload exist-bridge" in section
    for command in (service["ExecStart"], service["ExecStartPre"], service["ExecReload"]):
        binary, _, rest = command.partition(" ")
        assert binary in section  # the same virtualenv
        assert rest.split(" -c ")[1] in section  # the same configuration file
    assert service["EnvironmentFile"] in section
    assert "pip install exist-mqtt-bridge" in section and "python3-venv" in section
    assert "pip install ." in section  # from a clone
    assert re.search(r"exist-bridge status -c /etc/exist-bridge/config\.yaml", section)


def test_debian_users_are_told_about_python3_venv_in_the_set_up():
    for page in (ROOT / "README.md", ROOT / "docs" / "get-started" / "demo.md"):
        setup = page.read_text().split("## Set-up on a fresh machine", 1)[1].split("```", 1)[0]
        assert "python3-venv" in setup, page
