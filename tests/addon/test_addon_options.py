"""The add-on's options and the Supervisor's answer are checked before the configuration is built:
a mistake in an option is reported as that option's (Configuration tab), a mistake in the
user's mappings file with the file's own line numbers, never the lines of the generated part."""

from __future__ import annotations

import io
import json

import pytest

from mqtt_bridge.addon import glue
from mqtt_bridge.addon.glue import AddonError, AddonPaths, build_config
from mqtt_bridge.cli import run
from mqtt_bridge.config import ConfigError

from ..support.supervisor import FakeSupervisor, mqtt_service

TOKEN = "the-addon-token"
MAPPINGS = "mappings:\n  - topic: home/steps\n    attribute: steps\n    mode: update\n"
OPTIONS = {"exist_token": "exist-t0ken", "log_level": "info"}


@pytest.fixture
def supervisor():
    with FakeSupervisor(TOKEN, mqtt_service("core-mosquitto", 1883, "addons", "pw")) as s:
        yield s


def paths(tmp_path, supervisor, text: str = MAPPINGS) -> AddonPaths:
    (tmp_path / "config").mkdir(exist_ok=True)
    (tmp_path / "config" / glue.DEFAULT_MAPPINGS_FILE).write_text(text)
    return AddonPaths(
        options=tmp_path / "options.json",
        data_dir=tmp_path / "data",
        config_dir=tmp_path / "config",
        supervisor_url=supervisor.url,
        supervisor_token=TOKEN,
    )


def run_addon(tmp_path, options: dict, *extra: str) -> tuple[int, list[str]]:
    (tmp_path / "options.json").write_text(json.dumps(options))
    err = io.StringIO()
    code = run(
        [
            "addon",
            "--options",
            str(tmp_path / "options.json"),
            "--config-dir",
            str(tmp_path / "config"),
            "--data-dir",
            str(tmp_path / "data"),
            *extra,
        ],
        io.StringIO(),
        err,
    )
    return code, err.getvalue().strip().splitlines()


def test_a_bad_timezone_option_names_the_option_not_the_mappings_file(tmp_path, supervisor):
    p = paths(tmp_path, supervisor)
    with pytest.raises(AddonError) as err:
        build_config({**OPTIONS, "timezone": "Mars/Base"}, p)
    message = str(err.value)
    assert message.startswith("add-on option `timezone`: unknown time zone 'Mars/Base'")
    assert "Configuration tab" in message
    assert "exist-bridge.yaml" not in message


def test_the_command_reports_an_option_problem_in_one_line(tmp_path, supervisor):
    paths(tmp_path, supervisor)
    options = {**OPTIONS, "timezone": "Mars/Base", "mqtt_host": "broker.lan"}
    code, lines = run_addon(tmp_path, options)
    assert code == 1
    errors = [line for line in lines if "error:" in line]
    assert errors == [lines[-1]]
    assert lines[-1].startswith("exist-bridge: error: add-on option `timezone`: unknown time zone")
    assert not any("mappings file" in line or "exist-bridge.yaml" in line for line in lines)


def test_a_file_problem_keeps_the_files_own_line_number(tmp_path, supervisor):
    text = MAPPINGS + "attributes:\n  - name: steps\n    value_type: 99\n"
    p = paths(tmp_path, supervisor, text)
    with pytest.raises(ConfigError) as err:
        build_config({**OPTIONS, "timezone": "Europe/Paris"}, p)
    lines = str(err.value).splitlines()
    user_lines = len(text.splitlines())
    for line in lines:
        number = int(line.split(":")[1])
        assert number <= user_lines, line
    assert any(":7: attributes[0].value_type" in line for line in lines), lines


def test_option_and_file_problems_are_both_reported_each_as_its_own(tmp_path, supervisor):
    text = MAPPINGS.replace("mode: update", "mode: updte")
    paths(tmp_path, supervisor, text)
    options = {**OPTIONS, "timezone": "Mars/Base", "mqtt_host": "broker.lan"}
    code, lines = run_addon(tmp_path, options)
    assert code == 1
    joined = "\n".join(lines)
    assert "add-on option `timezone`: unknown time zone 'Mars/Base'" in joined
    assert "exist-bridge.yaml:4: mappings[0].mode" in joined
    assert "1 problem(s) in the mappings file" in joined


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("mqtt_port", "abc", "add-on option `mqtt_port`: expected a port number from 1 to 65535"),
        ("mqtt_port", 70000, "add-on option `mqtt_port`: expected a port number from 1 to 65535"),
        ("flush_interval", "soon", "add-on option `flush_interval`: expected a whole number"),
        ("requests_per_hour", 0, "add-on option `requests_per_hour`: expected a whole number"),
        ("mqtt_tls", "yes", "add-on option `mqtt_tls`: expected true or false"),
        ("log_level", "loud", "add-on option `log_level`: expected one of debug, info"),
        ("exist_token", 123, "add-on option `exist_token`: expected text (your Exist token)"),
    ],
)
def test_bad_option_values_are_one_clear_line(tmp_path, supervisor, option, value, expected):
    paths(tmp_path, supervisor)
    code, lines = run_addon(tmp_path, {**OPTIONS, "mqtt_host": "broker.lan", option: value})
    assert code == 1
    assert lines[-1].startswith("exist-bridge: error: " + expected), lines
    text = "\n".join(lines)
    assert "Traceback" not in text and "Message:" not in text and "Arguments:" not in text


@pytest.mark.parametrize(
    ("port", "problem"),
    [("abc", "'abc'"), (0, "0"), (True, "True"), (None, "None"), (1883.5, "1883.5")],
)
def test_a_bad_port_from_the_supervisor_is_one_clear_line(tmp_path, supervisor, port, problem):
    supervisor.mqtt = {**supervisor.mqtt, "port": port}
    p = paths(tmp_path, supervisor)
    with pytest.raises(AddonError) as err:
        build_config(OPTIONS, p)
    message = str(err.value)
    assert "/services/mqtt" in message and "port" in message and problem in message, message


def test_a_bad_host_from_the_supervisor_is_one_clear_line(tmp_path, supervisor):
    supervisor.mqtt = {**supervisor.mqtt, "host": ""}
    with pytest.raises(AddonError, match=r"/services/mqtt.*host"):
        build_config(OPTIONS, paths(tmp_path, supervisor))


def test_a_relative_data_dir_is_taken_from_the_working_directory(tmp_path, supervisor, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = paths(tmp_path, supervisor)
    p = AddonPaths(**{**p.__dict__, "data_dir": glue.Path("a/data")})
    config = build_config(OPTIONS, p)
    assert config.bridge.state_dir == tmp_path / "a" / "data"


def test_a_numeric_exist_token_is_not_called_empty(tmp_path, supervisor):
    with pytest.raises(AddonError) as err:
        build_config({**OPTIONS, "exist_token": 123}, paths(tmp_path, supervisor))
    assert "empty" not in str(err.value)
    assert "exist_token" in str(err.value)
