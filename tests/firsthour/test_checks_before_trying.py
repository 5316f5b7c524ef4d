"""`exist-bridge test` and `run --dry-run` check the configuration as `exist-bridge check` does,
first, and say so: a mapping `check` refuses is never "it would count" (issue 24, item 1)."""

from __future__ import annotations

from ..support.cli import RunningBridge, cli
from ..support.config import write_bridge_config

CHECKED = "checks (the same as `exist-bridge check`)"


def make(tmp_path, attribute: str, port: int = 1883):
    return write_bridge_config(
        tmp_path / "m1.yaml",
        url="http://127.0.0.1:9/",
        token="abc",
        port=port,
        state_dir=tmp_path / "state",
        attributes=[{"template": "coffees"}],
        mappings=[{"topic": "zigbee2mqtt/coffee_button", "attribute": attribute}],
    )


def test_test_refuses_what_check_refuses_and_says_why(tmp_path):
    path = make(tmp_path, "cofees")
    assert cli("check", "-c", str(path)).returncode == 1
    done = cli("test", "-c", str(path), "-t", "zigbee2mqtt/coffee_button", "-m", "{}")
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"{CHECKED}: 1 problem(s) in the configuration:"
    assert "did you mean 'coffees'?" in lines[1]
    assert lines[-1].startswith("result: not until the configuration's problem(s) above are fixed")
    assert "it would count" not in done.stdout


def test_test_says_the_checks_passed(tmp_path):
    path = make(tmp_path, "coffees")
    done = cli("test", "-c", str(path), "-t", "zigbee2mqtt/coffee_button", "-m", "{}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[0] == f"{CHECKED}: OK"
    assert done.stdout.splitlines()[-1] == "result: it would count (nothing was written)"


def test_test_opens_the_token_file_as_check_does(tmp_path):
    path = make(tmp_path, "coffees")
    text = path.read_text().replace("token: abc", "token_file: missing.json")
    path.write_text(text)
    done = cli("test", "-c", str(path), "-t", "zigbee2mqtt/coffee_button", "-m", "{}")
    assert done.returncode == 1
    assert "exist.token_file" in done.stderr
    assert "effect" not in done.stdout


def test_dry_run_says_it_checked_and_what_it_found(tmp_path, mosquitto):
    dry = RunningBridge(make(tmp_path, "cofees", mosquitto.port), "--dry-run")
    try:
        line = dry.wait_for(r"dry run: checks \(")
        assert "WARNING" in line
        assert f"{CHECKED}: 1 problem(s) in the configuration (logged above)" in line
        assert "did you mean 'coffees'?" in dry.text()
    finally:
        assert dry.stop() == 0


def test_dry_run_says_the_checks_passed(tmp_path, mosquitto):
    dry = RunningBridge(make(tmp_path, "coffees", mosquitto.port), "--dry-run")
    try:
        assert dry.wait_for(r"dry run: checks \(").endswith(f"dry run: {CHECKED}: OK")
    finally:
        assert dry.stop() == 0
